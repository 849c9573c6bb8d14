/**
 * answering serves one fixed HTTP answer on 127.0.0.1 (what a proxy in front of a provider, or
 * a provider whose API changed, might answer), for adapter specs that need an answer the mock
 * providers never give.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** withAnswer runs fn with the base URL of a server answering every request with status, contentType and body. */
export async function withAnswer<T>(
  answer: { status: number; contentType: string; body: string },
  fn: (baseUrl: string) => Promise<T>,
): Promise<T> {
  const server = createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': answer.contentType }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.close();
  }
}
