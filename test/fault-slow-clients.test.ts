// Slow clients: slowloris headers and a trickled body are cut off by the HTTP timeouts; other clients are unaffected.
import t from 'tap';
import { TOKEN, startTestBroker } from './helpers/broker.js';
import {
  type CallResult,
  call,
  keepAliveAgent,
  parseRawResponse,
  rawConnect,
  tally,
} from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  flags: { 'http-headers-timeout-ms': HEADERS_TIMEOUT_MS, 'http-request-timeout-ms': REQUEST_TIMEOUT_MS },
});
t.teardown(() => broker.close());
const agent = keepAliveAgent(16);
t.teardown(() => agent.destroy());

/** Sends `pieces` one at a time, `everyMs` apart, until the server closes the socket or the pieces run out. */
async function trickle(pieces: readonly string[], everyMs: number) {
  const client = await rawConnect(broker.url);
  let closed = false;
  void client.closed.then(() => {
    closed = true;
  });
  for (const piece of pieces) {
    if (closed) break;
    client.socket.write(piece);
    await Promise.race([sleep(everyMs), client.closed]);
  }
  const ms = await Promise.race([client.closed, sleep(10_000).then(() => -1)]);
  client.socket.destroy();
  return { ms, closedByServer: closed, response: parseRawResponse(client.received()) };
}

t.test('slowloris headers and a trickled body are cut off; other clients unaffected', async (t) => {
  const others: CallResult[] = [];
  let running = true;
  const bystander = (async () => {
    for (let i = 0; running; i++) {
      others.push(await call(broker.url, '/', ['set', `bystander:${i}`, 'v'], { agent }));
      await sleep(20);
    }
  })();

  // Slowloris: one header line every 200 ms, never ending the headers (60 lines would take 12 s).
  const headerLines = [
    'POST / HTTP/1.1\r\n',
    'Host: x\r\n',
    ...Array.from({ length: 60 }, (_, i) => `X-Slow-${i}: ${i}\r\n`),
  ];
  // A body trickled byte by byte: 60 bytes, one per 100 ms (6 s) against a 2 s request timeout.
  const body = JSON.stringify(['set', 'trickled', 'x'.repeat(40)]);
  const bodyHead =
    `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\n\r\n`;
  const [loris, trickled] = await Promise.all([
    trickle(headerLines, 200),
    trickle([bodyHead, ...body.split('')], 100),
  ]);
  running = false;
  await bystander;

  t.comment(
    `slowloris cut off after ${loris.ms.toFixed(0)} ms with ${loris.response.status || 'no response'}`,
  );
  t.ok(loris.closedByServer, 'the slowloris connection was closed by the server');
  t.ok(
    loris.ms > 0 && loris.ms < HEADERS_TIMEOUT_MS + 3000,
    `cut off near SLUICE_HTTP_HEADERS_TIMEOUT_MS (${loris.ms.toFixed(0)} ms)`,
  );
  if (loris.response.status !== 0) {
    t.equal(loris.response.status, 408, 'answered 408');
    t.match(loris.response.body, { code: 'SLUICE_ERR_HTTP_TIMEOUT' }, 'with a JSON error');
  }

  t.comment(
    `trickled body cut off after ${trickled.ms.toFixed(0)} ms with ${trickled.response.status || 'no response'}`,
  );
  t.ok(trickled.closedByServer, 'the trickling connection was closed by the server');
  t.ok(
    trickled.ms > 0 && trickled.ms < REQUEST_TIMEOUT_MS + 3000,
    `cut off near SLUICE_HTTP_REQUEST_TIMEOUT_MS (${trickled.ms.toFixed(0)} ms)`,
  );
  if (trickled.response.status !== 0) {
    t.equal(trickled.response.status, 408, 'answered 408');
    t.match(trickled.response.body, { code: 'SLUICE_ERR_HTTP_TIMEOUT' }, 'with a JSON error');
  }
  t.equal(await redis.client().exists('trickled'), 0, 'the trickled command never ran');

  t.comment(
    `bystanders: ${JSON.stringify(tally(others))}, slowest ${Math.max(...others.map((r) => r.ms)).toFixed(0)} ms`,
  );
  t.ok(others.length > 20, 'other clients kept going');
  t.ok(
    others.every((r) => r.status === 200),
    'every other client succeeded meanwhile',
  );
  t.ok(Math.max(...others.map((r) => r.ms)) < 1000, 'and none was slowed down to a stall');
});
