/**
 * What Postmark keeps with a message: Metadata values of at most 80 characters (longer ones
 * travel hashed) and one Tag of up to 1000, which holds the newsletter id whole (so a webhook
 * names a newsletter whose id is over 80 characters). Shared by the adapter and the webhook
 * reader, which runs in the bridge without the SDK.
 */
import { createHash } from 'node:crypto';

/** metadataValue is a value as Postmark can store it in Metadata: at most 80 characters, so longer ones are hashed. */
export const metadataValue = (value: string): string =>
  value.length <= 80 ? value : `sha256-${createHash('sha256').update(value).digest('hex')}`;
