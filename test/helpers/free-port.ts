/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for peers (Prometheus, Alertmanager)
 * that must be told their listen address up front. Another process may take it in between;
 * callers that can bind port 0 themselves should.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
