// Quotas on every transport, against a real Redis, with the broker on a ManualClock so that buckets refill only when
// the test says: REST (the official @upstash/redis client sees the 429 as an error; Retry-After), WebSocket (an error
// reply, the socket stays), pipelines counted per command, in-flight requests, sockets and SSE streams, tenants,
// the settings' defaults, metrics, and a reload of the tokens file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from '@upstash/redis';
import t from 'tap';
import { WebSocket } from 'ws';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { call, codeOf } from './helpers/load.js';
import { ManualClock } from './helpers/manual-clock.js';
import { scrape, value } from './helpers/metrics.js';
import { startRedis } from './helpers/redis.js';
import { openStream } from './helpers/sse.js';
import { waitFor } from './helpers/time.js';
import { connect, Peer } from './helpers/ws.js';

const server = await startRedis();
t.teardown(() => server.stop());

const RATE = 'quota-rate-token';
const COMMANDS = 'quota-commands-token';
const INFLIGHT = 'quota-inflight-token';
const SOCKETS = 'quota-sockets-token';
const ACME_1 = 'quota-acme-token-1';
const ACME_2 = 'quota-acme-token-2';
const dir = mkdtempSync(join(tmpdir(), 'sluice-quota-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const acme = { tenant: 'acme', redisUrl: server.url, quota: { requestsPerSecond: 1, burst: 2 } };
const tokensFile = join(dir, 'tokens.json');
writeFileSync(
  tokensFile,
  JSON.stringify({
    tokens: [
      { token: RATE, name: 'rate', right: 'readwrite', quota: { requestsPerSecond: 2, burst: 3 } },
      { token: COMMANDS, name: 'commands', right: 'readwrite', quota: { commandsPerSecond: 10 } },
      { token: INFLIGHT, name: 'inflight', right: 'readwrite', quota: { inflight: 2 } },
      { token: SOCKETS, name: 'sockets', right: 'readwrite', quota: { sockets: 2 } },
      { token: ACME_1, name: 'acme-1', right: 'readwrite', ...acme },
      { token: ACME_2, name: 'acme-2', right: 'readwrite', ...acme },
    ],
  }),
);
const clock = new ManualClock();
const broker = await startTestBroker(server.url, { clock, flags: { 'tokens-file': tokensFile } });
t.teardown(() => broker.close());

const auth = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const sdk = (token: string) =>
  new Redis({ url: broker.url, token, enableTelemetry: false, enableAutoPipelining: false, retry: false });

t.test('requests/s over REST: the burst, then 429 with Retry-After; the SDK throws the error', async (t) => {
  const redis = sdk(RATE);
  for (let i = 0; i < 3; i++)
    t.equal(await redis.set(`q:rate:${i}`, i), 'OK', `request ${i + 1} of the burst`);
  await t.rejects(redis.get('q:rate:0'), /over its quota of 2 requests per second/, 'the SDK sees the 429');
  const refused = await call(broker.url, '/', ['GET', 'q:rate:0'], auth(RATE));
  t.equal(refused.status, 429);
  t.equal(codeOf(refused), 'SLUICE_ERR_QUOTA_REQUESTS');
  t.equal(refused.headers['retry-after'], '1', 'half a second to the next token: Retry-After 1');
  t.match((refused.body as { error: string }).error, /quota\.requestsPerSecond in the tokens file/);
  const pathStyle = await call(broker.url, '/get/q:rate:0', undefined, { ...auth(RATE), method: 'GET' });
  t.equal(pathStyle.status, 429, 'path-style requests count too');
  const chunked = await call(broker.url, '/', ['GET', 'q:rate:0'], {
    headers: { Authorization: `Bearer ${RATE}`, 'Transfer-Encoding': 'chunked' },
  });
  t.equal(chunked.status, 429, 'a request node:http serves (a chunked body) is refused the same way');
  t.equal(chunked.headers['retry-after'], '1');
  clock.advance(500);
  t.equal(await redis.get('q:rate:0'), 0, 'a token after 500 ms at 2/s');
  await t.rejects(redis.get('q:rate:0'), /SLUICE_TOKEN_REQUESTS_PER_SECOND|quota/);
  const other = await call(broker.url, '/', ['GET', 'q:rate:0']);
  t.equal(other.status, 200, 'another token is not held back');
});

t.test('requests/s over WebSocket: an error reply, the socket stays open', async (t) => {
  clock.advance(10_000);
  const peer = await Peer.open(broker.url, { token: RATE });
  t.teardown(() => peer.close());
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await peer.request({ cmd: ['PING'] }));
  t.same(
    replies.map((r) => r['code'] ?? r['result']),
    ['PONG', 'PONG', 'PONG', 'SLUICE_ERR_QUOTA_REQUESTS'],
  );
  t.match(replies[3]!['error'], /retry in 1 s/);
  t.equal(peer.closeCode, undefined, 'the socket is still open');
  clock.advance(500);
  t.same(
    (await peer.request({ cmd: ['PING'] }))['result'],
    'PONG',
    'and serves again once the bucket has room',
  );
});

t.test('commands/s: pipelines and transactions count each command, on REST and WebSocket', async (t) => {
  const pipeline = (n: number) => Array.from({ length: n }, (_, i) => ['SET', `q:cmd:${i}`, String(i)]);
  const ok = await call(broker.url, '/pipeline', pipeline(10), auth(COMMANDS));
  t.equal(ok.status, 200, 'a pipeline of 10 uses the second');
  const over = await call(broker.url, '/pipeline', pipeline(2), auth(COMMANDS));
  t.equal(over.status, 429);
  t.equal(codeOf(over), 'SLUICE_ERR_QUOTA_COMMANDS');
  t.equal(over.headers['retry-after'], '1');
  t.equal(await server.client().get('q:cmd:0'), '0');
  clock.advance(1000);
  const big = await call(broker.url, '/multi-exec', pipeline(30), auth(COMMANDS));
  t.equal(big.status, 200, 'a transaction larger than the bucket goes in on a full bucket');
  const debt = await call(broker.url, '/', ['GET', 'q:cmd:0'], auth(COMMANDS));
  t.equal(debt.status, 429);
  t.equal(debt.headers['retry-after'], '3', 'and its debt delays the next command: (20 + 1) / 10 s');
  clock.advance(3000);
  const peer = await Peer.open(broker.url, { token: COMMANDS });
  t.teardown(() => peer.close());
  const first = await peer.request({ pipeline: pipeline(8) });
  t.ok(Array.isArray(first['results']), 'a WS pipeline of 8 fits');
  const second = await peer.request({ pipeline: pipeline(3) });
  t.equal(second['code'], 'SLUICE_ERR_QUOTA_COMMANDS', 'the next 3 do not');
  const multi = await peer.request({ multi: pipeline(2) });
  t.ok(Array.isArray(multi['results']), 'a transaction of 2 does');
  t.equal(peer.closeCode, undefined);
});

t.test('in flight: blocked requests hold their places on REST and WebSocket', async (t) => {
  const peer = await Peer.open(broker.url, { token: INFLIGHT });
  t.teardown(() => peer.close());
  const blocked = [peer.request({ cmd: ['BLPOP', 'q:inflight:a', '0'] })];
  blocked.push(
    call(broker.url, '/', ['BLPOP', 'q:inflight:b', '0'], auth(INFLIGHT)).then((r) => ({ result: r.body })),
  );
  t.ok(
    await waitFor(async () => (await server.client().info('clients')).includes('blocked_clients:2')),
    'two requests block in Redis',
  );
  const ws = await peer.request({ cmd: ['PING'] });
  t.equal(ws['code'], 'SLUICE_ERR_QUOTA_INFLIGHT');
  t.match(ws['error'], /is at its quota of 2 requests in flight/);
  const rest = await call(broker.url, '/', ['PING'], auth(INFLIGHT));
  t.equal(rest.status, 429);
  t.equal(codeOf(rest), 'SLUICE_ERR_QUOTA_INFLIGHT');
  t.equal(rest.headers['retry-after'], '1');
  const pipelined = await call(broker.url, '/pipeline', [['PING']], auth(INFLIGHT));
  t.equal(
    pipelined.status,
    429,
    'a pipeline counts as one request in flight, refused before its body is read',
  );
  await server.client().rpush('q:inflight:a', 'x');
  await server.client().rpush('q:inflight:b', 'y');
  await Promise.all(blocked);
  t.same((await peer.request({ cmd: ['PING'] }))['result'], 'PONG', 'the answers freed the places');
  t.equal((await call(broker.url, '/', ['PING'], auth(INFLIGHT))).status, 200);
});

t.test('sockets: WebSockets and SSE streams; the upgrade over quota is refused with 429 JSON', async (t) => {
  const first = await Peer.open(broker.url, { token: SOCKETS });
  const stream = await openStream(broker.url, '/subscribe/q-news', { token: SOCKETS });
  t.equal(stream.status, 200, 'an SSE stream is the second socket');
  const refused = await connect(broker.url, { token: SOCKETS });
  t.notOk(refused instanceof WebSocket);
  t.match(refused, {
    status: 429,
    body: { code: 'SLUICE_ERR_QUOTA_SOCKETS', error: /is at its quota of 2 WebSockets and SSE streams open/ },
  });
  const refusedStream = await openStream(broker.url, '/subscribe/q-news', { token: SOCKETS });
  t.equal(refusedStream.status, 429, 'a third stream is refused too');
  t.ok(await waitFor(async () => (await connect(broker.url)) instanceof WebSocket), 'others still connect');
  stream.close();
  let again: WebSocket | undefined;
  t.ok(
    await waitFor(async () => {
      const attempt = await connect(broker.url, { token: SOCKETS });
      if (attempt instanceof WebSocket) again = attempt;
      return again !== undefined;
    }),
    'a closed stream frees its place',
  );
  again?.close();
  await first.close();
});

t.test('a tenant: its tokens share one quota; refusals are counted by kind and tenant', async (t) => {
  clock.advance(10_000);
  const one = await call(broker.url, '/', ['PING'], auth(ACME_1));
  const two = await call(broker.url, '/', ['PING'], auth(ACME_2));
  t.same([one.status, two.status], [200, 200], 'the burst of 2, one request from each token');
  const three = await call(broker.url, '/', ['PING'], auth(ACME_1));
  t.equal(three.status, 429);
  t.match((three.body as { error: string }).error, /tenant acme is over its quota of 1 requests per second/);
  const samples = await scrape(broker.adminUrl);
  t.equal(value(samples, 'sluice_quota_refusals_total', { kind: 'requests', tenant: 'acme' }), 1);
  t.ok(value(samples, 'sluice_quota_refusals_total', { kind: 'requests', tenant: 'default' }) >= 5);
  t.ok(value(samples, 'sluice_quota_refusals_total', { kind: 'sockets', tenant: 'default' }) >= 2);
  t.ok(value(samples, 'sluice_quota_refusals_total', { kind: 'inflight', tenant: 'default' }) >= 3);
  t.ok(value(samples, 'sluice_quota_refusals_total', { kind: 'commands', tenant: 'default' }) >= 3);
  t.ok(value(samples, 'sluice_refusals_total', { reason: 'quota' }) >= 14);
  t.notMatch(JSON.stringify([...samples.keys()]), /quota-.*-token/, 'no token in any label');
});

t.test('defaults from the settings apply to every token; a file quota of 0 lifts them', async (t) => {
  const defaultsBroker = await startTestBroker(server.url, {
    clock,
    flags: { 'token-requests-per-second': 1, 'token-burst': 2, 'token-max-sockets': 1 },
    tokens: [
      { token: 'quota-free-token', name: 'free', right: 'readwrite', quota: { requestsPerSecond: 0 } },
    ],
  });
  t.teardown(() => defaultsBroker.close());
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await call(defaultsBroker.url, '/', ['PING'])).status);
  t.same(statuses, [200, 200, 429], 'SLUICE_TOKEN (admin) has the default quota');
  const refused = await call(defaultsBroker.url, '/', ['PING']);
  t.match((refused.body as { error: string }).error, /burst 2; SLUICE_TOKEN_REQUESTS_PER_SECOND/);
  const free = [];
  for (let i = 0; i < 5; i++)
    free.push((await call(defaultsBroker.url, '/', ['PING'], auth('quota-free-token'))).status);
  t.same(free, [200, 200, 200, 200, 200], 'requestsPerSecond 0 in the file: no limit');
  const peer = await Peer.open(defaultsBroker.url, { token: 'quota-free-token' });
  t.match(await connect(defaultsBroker.url, { token: 'quota-free-token' }), {
    status: 429,
    body: { error: /SLUICE_TOKEN_MAX_SOCKETS/ },
  });
  await peer.close();
});

t.test('a reload of the tokens file: a changed quota applies at once, state carries over', async (t) => {
  const file = join(dir, 'reload.json');
  const write = (quota: unknown) =>
    writeFileSync(
      file,
      JSON.stringify({ tokens: [{ token: 'quota-reload-token', right: 'readwrite', quota }] }),
    );
  write({ requestsPerSecond: 1, burst: 1, sockets: 1 });
  const reloading = await startTestBroker(server.url, { clock, flags: { 'tokens-file': file } });
  t.teardown(() => reloading.close());
  const ask = async () => (await call(reloading.url, '/', ['PING'], auth('quota-reload-token'))).status;
  t.same([await ask(), await ask()], [200, 429]);
  const peer = await Peer.open(reloading.url, { token: 'quota-reload-token' });
  t.equal(
    ((await connect(reloading.url, { token: 'quota-reload-token' })) as { status: number }).status,
    429,
  );
  write({ requestsPerSecond: 1, burst: 1, sockets: 2 });
  reloading.reload();
  t.equal(await ask(), 429, 'the bucket was not refilled by the reload');
  const second = await connect(reloading.url, { token: 'quota-reload-token' });
  t.ok(second instanceof WebSocket, 'sockets raised to 2 at once, the open one still counted');
  t.match(await connect(reloading.url, { token: 'quota-reload-token' }), { status: 429 });
  write({ sockets: 2 });
  reloading.reload();
  t.equal(await ask(), 200, 'the rate limit lifted at once');
  (second as WebSocket).close();
  await peer.close();
  t.equal((await call(reloading.url, '/', ['PING'], auth(TOKEN))).status, 200);
});
