// A refused upgrade or CONNECT followed by the client's TCP reset must not end the broker (issue 17, item 1): every
// socket keeps an error listener for its whole life. Run against the broker's own process, directly and through a
// real haproxy (which resets its backend connection after a refused upgrade).
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { type BrokerProcess, spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { haproxyPath, startHaproxy } from './helpers/haproxy.js';
import { scrape, total } from './helpers/metrics.js';
import { startRedis } from './helpers/redis.js';
import { freePort } from './helpers/topology.js';

const ROUNDS = 12;
const WS_HEADERS =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const PLAIN_PING = `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 8\r\n\r\n["ping"]`;

/** Every refusal on the upgrade and CONNECT paths, as raw request heads. */
const REFUSALS: readonly [string, string][] = [
  ['CONNECT', 'CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n'],
  ['/ws without a token', `GET /ws HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}\r\n`],
  ['/ws with a bad token', `GET /ws?_token=nope HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}\r\n`],
  [
    '/ws with a bad Sec-WebSocket-Key',
    `GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bad\r\n\r\n',
  ],
  [
    '/ws with an unknown version',
    `GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  ],
  ['POST /ws upgrade', `POST /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${WS_HEADERS}\r\n`],
  ['GET / with Upgrade', `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${WS_HEADERS}\r\n`],
  ['/ws without Upgrade', `GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`],
  ['a malformed request', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'],
  ['headers over the limit', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
];

/**
 * Sends `request` (after `before`, on the same connection) and resets the connection: as soon as the first answer
 * arrives (`when: 'answer'`), or right after writing (`'sent'`). Resolves when the socket is closed.
 */
function refuseThenReset(
  port: number,
  before: string,
  request: string,
  when: 'answer' | 'sent',
): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1', () => {
      socket.write(before + request);
      if (when === 'sent') setImmediate(() => socket.resetAndDestroy());
    });
    let seen = '';
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      // After the refusal's head (not only the plain request's answer before it).
      if (when === 'answer' && seen.split('HTTP/1.1 ').length - 1 > (before === '' ? 0 : 1))
        socket.resetAndDestroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.setTimeout(5000, () => socket.destroy());
  });
}

async function stillServes(t: Test, broker: BrokerProcess, port: number, adminPort: number): Promise<void> {
  t.equal(broker.child.exitCode, null, 'the broker process is still running');
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: '["ping"]',
  });
  t.equal(response.status, 200);
  t.same(await response.json(), { result: 'PONG' });
  const samples = await scrape(`http://127.0.0.1:${adminPort}`);
  t.equal(total(samples, 'sluice_process_guard_total'), 0, 'no error reached the process guard');
  t.notMatch(broker.stderr(), /uncaught_socket_error|uncaught_exception/, 'nothing uncaught was logged');
}

const redis = await startRedis();
t.teardown(() => redis.stop());
const [port, adminPort] = [await freePort(), await freePort()];
const broker = await spawnBrokerProcess([
  ...['--port', String(port), '--admin-port', String(adminPort), '--redis-url', redis.url],
  ...['--token', TOKEN, '--log-level', 'warn', '--ws-max-sockets', '1'],
]);
t.teardown(() => broker.stop());

t.test('each refusal followed by a reset, on a new and on a kept-alive connection', async (t) => {
  for (const [name, request] of REFUSALS) {
    for (let round = 0; round < ROUNDS; round++) {
      const before = round % 2 === 0 ? '' : PLAIN_PING;
      await refuseThenReset(port, before, request, round % 3 === 2 ? 'sent' : 'answer');
    }
    t.equal(broker.child.exitCode, null, `alive after ${name}`);
  }
  await stillServes(t, broker, port, adminPort);
});

t.test('a refusal for the socket limit (SLUICE_WS_MAX_SOCKETS) followed by a reset', async (t) => {
  const held = new WebSocket(`ws://127.0.0.1:${port}/ws?_token=${TOKEN}`);
  held.on('error', () => {});
  await new Promise((resolve, reject) => held.once('open', resolve).once('error', reject));
  t.teardown(() => held.terminate());
  const upgrade = `GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${WS_HEADERS}\r\n`;
  for (let round = 0; round < ROUNDS; round++) await refuseThenReset(port, '', upgrade, 'answer');
  await stillServes(t, broker, port, adminPort);
});

const haproxyMissing = haproxyPath() === undefined;

t.test(
  'through haproxy (http-reuse always), ordinary WebSocket connects with a bad token',
  { skip: haproxyMissing && 'haproxy is not on PATH (.ci/run installs it)' },
  async (t) => {
    const haproxy = await startHaproxy(`http://127.0.0.1:${port}`, ['http-reuse always']);
    t.teardown(() => haproxy.stop());
    for (let round = 0; round < 3 * ROUNDS; round++) {
      const token = round % 2 === 0 ? 'expired-token' : TOKEN;
      const path = round % 2 === 0 ? '/ws' : '/nowhere';
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${haproxy.port}${path}?_token=${token}`);
        ws.on('unexpected-response', (_request, response) => {
          resolve(response.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('error', () => resolve(0));
        ws.on('open', () => {
          resolve(101);
          ws.terminate();
        });
      });
      t.equal(status, round % 2 === 0 ? 401 : 404, `round ${round}: refused`);
    }
    // A plain request through the proxy after the refusals: haproxy reuses or reopens backend connections.
    const response = await fetch(`http://127.0.0.1:${haproxy.port}/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: '["ping"]',
    });
    t.equal(response.status, 200);
    await response.text();
    await stillServes(t, broker, port, adminPort);
  },
);
