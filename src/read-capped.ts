/**
 * readCapped reads a body whole (an HTTP request's, a fetch answer's), at most limit bytes: past
 * them it throws tooLarge() and reads no further (leaving the loop cancels a fetch body). The
 * webhook endpoints and the backend's recipient pages read theirs through it.
 */
import { Buffer } from 'node:buffer';

export async function readCapped(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limit: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
