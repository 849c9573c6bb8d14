/**
 * The service's gRPC API as tests reach it: the generated clients over one insecure
 * channel, and the wait for a newsletter's final status.
 */
import { ChannelCredentials } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { NewsletterServiceClient } from '../../contracts/gen/authentik/temporal/v1/newsletter.client.ts';
import { WorkflowServiceClient } from '../../contracts/gen/authentik/temporal/v1/workflow.client.ts';
import { eventually } from './eventually.ts';
import { auth } from './fixtures.ts';

/** Clients are the generated clients of one bridge. */
export interface Clients {
  newsletters: NewsletterServiceClient;
  workflows: WorkflowServiceClient;
  close(): void;
}

/** connectClients opens the generated clients on the bridge at 127.0.0.1:port. */
export function connectClients(port: number): Clients {
  const transport = new GrpcTransport({
    host: `127.0.0.1:${port}`,
    channelCredentials: ChannelCredentials.createInsecure(),
  });
  return {
    newsletters: new NewsletterServiceClient(transport),
    workflows: new WorkflowServiceClient(transport),
    close: () => transport.close(),
  };
}

/** FINAL_STATES are the states a newsletter never leaves. */
export const FINAL_STATES: readonly NewsletterState[] = [
  NewsletterState.COMPLETED,
  NewsletterState.COMPLETED_WITH_FAILURES,
  NewsletterState.CANCELLED,
  NewsletterState.FAILED,
];

/** finalStatus polls GetNewsletterStatus until the newsletter reaches a final state, and returns that status. */
export async function finalStatus(
  service: { newsletters: NewsletterServiceClient },
  newsletterId: string,
  timeoutMs = 180_000,
) {
  return await eventually(
    async () => {
      const { response } = await service.newsletters.getNewsletterStatus({ newsletterId }, auth);
      const status = response.status!;
      return FINAL_STATES.includes(status.state) ? status : undefined;
    },
    timeoutMs,
    250,
  );
}

/** outcomeOf is how a call ended: its gRPC status code ('OK' when it succeeded) and message; anything not a gRPC status is thrown. */
export async function outcomeOf(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
    return { code: 'OK', message: '' };
  } catch (err) {
    if (err instanceof RpcError) return { code: err.code, message: err.message };
    throw err;
  }
}
