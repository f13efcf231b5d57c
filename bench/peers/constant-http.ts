// The ceiling of the HTTP stack: a plain Node HTTP server that reads the body and answers a constant reply; with a
// certificate and key (argv 4 and 5), the same over node:https (TLS 1.2+, session tickets), as the broker's TLS.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

const value = process.argv[2] ?? 'v';
const processes = Number(process.argv[3] ?? '1');
const certFile = process.argv[4];
const keyFile = process.argv[5];
const body = Buffer.from(JSON.stringify({ result: value }));
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const scheme = certFile && keyFile ? 'https' : 'http';

const handler = (req: IncomingMessage, res: ServerResponse): void => {
  // a broker must read the body before it answers; so does the ceiling
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(body);
  });
};
const server =
  certFile && keyFile
    ? createHttpsServer(
        {
          cert: readFileSync(certFile),
          key: readFileSync(keyFile),
          minVersion: 'TLSv1.2',
          ticketKeys: randomBytes(48),
        },
        handler,
      )
    : createServer(handler);
server.keepAliveTimeout = 60000;

if (processes > 1 && cluster.isPrimary) {
  // as `--workers N` does for the broker: N processes share one port through node:cluster
  let announced = false;
  for (let i = 0; i < processes; i++) cluster.fork();
  cluster.on('listening', (_worker, address) => {
    if (announced) return;
    announced = true;
    process.stdout.write(`constant-http ready http=${scheme}://127.0.0.1:${address.port}\n`);
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    if (cluster.isPrimary) process.stdout.write(`constant-http ready http=${scheme}://127.0.0.1:${port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
