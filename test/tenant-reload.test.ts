// The tokens file reloads on change and on SIGHUP: a new token works at once, a removed one gets 401 at once and its
// open WebSocket and SSE stream are closed with the reason, a broken file keeps the last good one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../broker/lifecycle/private-redis.js';
import { post, spawnBrokerProcess, startTestBroker } from './helpers/broker.js';
import { scrape, value } from './helpers/metrics.js';
import { brokerConnections, startRedis } from './helpers/redis.js';
import { openStream } from './helpers/sse.js';
import { waitFor } from './helpers/time.js';
import { Peer } from './helpers/ws.js';

t.setTimeout(180_000);

const redis = await startRedis();
t.teardown(() => redis.stop());
const dir = mkdtempSync(join(tmpdir(), 'sluice-reload-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'tokens.json');
const KEEP = 'reload-keep-token-1';
const LATER = 'reload-later-token-1';
const write = (tokens: { token: string; right: string; name?: string; deny?: string[] }[]) =>
  writeFileSync(file, JSON.stringify({ tokens }));
write([{ token: KEEP, name: 'keep', right: 'readwrite' }]);

const logLines: string[] = [];
const broker = await startTestBroker(redis.url, { flags: { 'tokens-file': file }, logLines });
t.teardown(() => broker.close());
const as = (token: string, command: unknown[]) =>
  post(broker.url, '/', command, { Authorization: `Bearer ${token}` });
const statusOf = async (token: string) => (await as(token, ['PING'])).status;

t.test('a token added to the file works at once (file watch)', async (t) => {
  t.equal(await statusOf(LATER), 401, 'unknown before');
  write([
    { token: KEEP, name: 'keep', right: 'readwrite' },
    { token: LATER, name: 'later', right: 'readwrite' },
  ]);
  t.ok(await waitFor(async () => (await statusOf(LATER)) === 200, 10_000), 'accepted after the change');
  t.equal(await statusOf(KEEP), 200, 'the others still work');
});

t.test('changed rights apply to the next request, on a kept-alive connection too', async (t) => {
  // fetch keeps the connection alive: the broker must not trust the caller it remembered for it.
  t.equal((await as(LATER, ['SET', 'k', 'v'])).status, 200);
  write([
    { token: KEEP, name: 'keep', right: 'readwrite' },
    { token: LATER, name: 'later', right: 'readwrite', deny: ['set'] },
  ]);
  t.ok(
    await waitFor(async () => (await as(LATER, ['SET', 'k', 'v'])).status === 400, 10_000),
    'SET refused after the change',
  );
  t.equal((await as(LATER, ['GET', 'k'])).status, 200, 'GET still allowed');
});

t.test('a removed token: 401 at once, its WebSocket closed with 4001 and its SSE stream ended', async (t) => {
  const peer = await Peer.open(broker.url, { token: LATER });
  t.match(await peer.request({ cmd: ['PING'] }), { result: 'PONG' });
  const stream = await openStream(broker.url, '/subscribe/reload-news', { token: LATER });
  await stream.waitFor((line) => line.includes('subscribe'));
  const kept = await Peer.open(broker.url, { token: KEEP });
  write([{ token: KEEP, name: 'keep', right: 'readwrite' }]);
  const closed = await peer.closed;
  t.equal(closed.code, 4001, 'close code 4001');
  t.match(closed.reason, /token revoked/);
  await stream.ended;
  t.ok(
    stream.lines.some((line) => line.includes('SLUICE_ERR_AUTH_REVOKED')),
    'the stream ends with the error',
  );
  const refused = await as(LATER, ['PING']);
  t.equal(refused.status, 401);
  t.match(refused.body, { code: 'SLUICE_ERR_AUTH_INVALID' });
  t.match(await kept.request({ cmd: ['PING'] }), { result: 'PONG' }, "another token's socket stays");
  await kept.close();
});

t.test('a broken file keeps the last good one, logs why and counts it', async (t) => {
  const failedBefore = value(await scrape(broker.adminUrl), 'sluice_tokens_reloads_total', {
    outcome: 'failed',
  });
  writeFileSync(file, '{"tokens": [ {"token": "short", "right": "root"} ]');
  t.ok(
    await waitFor(
      async () =>
        value(await scrape(broker.adminUrl), 'sluice_tokens_reloads_total', { outcome: 'failed' }) >
        failedBefore,
      10_000,
    ),
    'counted as failed',
  );
  t.equal(await statusOf(KEEP), 200, 'the last good tokens still work');
  t.ok(
    logLines.some((line) => line.includes('tokens_reload_failed') && line.includes('not valid JSON')),
    'the log says why',
  );
  t.notOk(
    logLines.some((line) => line.includes('reload-keep-token')),
    'no token in the log',
  );
  write([{ token: KEEP, name: 'keep', right: 'readwrite' }]);
});

t.test(
  'a tenant added by a reload works at once; removed, its sockets close and its connections go',
  async (t) => {
    const tenantRedis = await startRedis();
    t.teardown(() => tenantRedis.stop());
    const TENANT_TOKEN = 'reload-tenant-token-1';
    const withTenant = [
      { token: KEEP, name: 'keep', right: 'readwrite' },
      { token: TENANT_TOKEN, name: 't', right: 'readwrite', tenant: 'late', redisUrl: tenantRedis.url },
    ];
    writeFileSync(file, JSON.stringify({ tokens: withTenant }));
    t.ok(await waitFor(async () => (await statusOf(TENANT_TOKEN)) === 200, 10_000), 'the new tenant answers');
    t.equal((await as(TENANT_TOKEN, ['SET', 'where', 'tenant'])).status, 200);
    t.equal(await tenantRedis.client().get('where'), 'tenant', "written on the tenant's Redis");
    const peer = await Peer.open(broker.url, { token: TENANT_TOKEN });
    t.match(await peer.request({ subscribe: ['c'] }), { result: [1] }, 'subscribed');
    t.ok((await brokerConnections(tenantRedis.client())) > 0, 'connections open');
    write([{ token: KEEP, name: 'keep', right: 'readwrite' }]);
    const closed = await peer.closed;
    t.equal(closed.code, 4001);
    t.ok(
      await waitFor(async () => (await brokerConnections(tenantRedis.client())) === 0, 10_000),
      "the tenant's connections are closed",
    );
    t.equal(broker.tenants.tenant('late'), undefined);
  },
);

t.test('SIGHUP reaches every worker of a spawned broker; a new token then works', async (t) => {
  const hupFile = join(dir, 'hup.json');
  writeFileSync(hupFile, JSON.stringify({ tokens: [{ token: KEEP, right: 'admin' }] }));
  const port = await freePort();
  const child = await spawnBrokerProcess([
    '--redis-url',
    redis.url,
    '--port',
    String(port),
    '--admin-port',
    '0',
    '--tokens-file',
    hupFile,
    '--workers',
    '2',
  ]);
  t.teardown(() => child.stop());
  const url = `http://127.0.0.1:${port}`;
  t.match(child.stdout(), /sluice ready/);
  child.child.kill('SIGHUP');
  t.ok(
    await waitFor(() => (child.stderr().match(/"why":"signal"/g) ?? []).length >= 2, 15_000),
    'both workers reloaded on SIGHUP',
  );
  t.equal(child.child.exitCode, null, 'the primary survives SIGHUP');
  writeFileSync(
    hupFile,
    JSON.stringify({
      tokens: [
        { token: KEEP, right: 'admin' },
        { token: LATER, right: 'readonly' },
      ],
    }),
  );
  child.child.kill('SIGHUP');
  // New connections spread over both workers: every one must take the new token.
  t.ok(
    await waitFor(async () => {
      const statuses = await Promise.all(
        Array.from({ length: 8 }, () =>
          fetch(`${url}/ping`, { headers: { Authorization: `Bearer ${LATER}`, Connection: 'close' } }).then(
            (r) => r.status,
          ),
        ),
      );
      return statuses.every((status) => status === 200);
    }, 15_000),
    'the new token works on every worker',
  );
});
