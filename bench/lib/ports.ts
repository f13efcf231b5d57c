// Free TCP ports on the loopback interface, for the private redis-server and the peers.
import { createServer } from 'node:net';

/** Asks the kernel for a free port on 127.0.0.1 (a small race with other processes is accepted). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}
