// Tenants of the tokens file: each runs on its own Redis (two real redis-servers, and an ACL user on the broker's own
// server), through the real @upstash/redis client; opened on first use, closed when idle, within the global cap.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis as Upstash } from '@upstash/redis';
import t from 'tap';
import { parseTokensFile } from '../broker/protocol/auth.js';
import { post, startTestBroker } from './helpers/broker.js';
import { scrape, value } from './helpers/metrics.js';
import { brokerConnections, startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';

t.setTimeout(180_000);

const own = await startRedis();
t.teardown(() => own.stop());
const redisA = await startRedis();
t.teardown(() => redisA.stop());
const redisB = await startRedis();
t.teardown(() => redisB.stop());
// Tenant `acl` is a Redis ACL user on the broker's own server, limited to its keys: Redis enforces it, not Sluice.
await own.client().call('ACL', 'SETUSER', 'app1', 'on', '>app1-secret', '~app1:*', '&*', '+@all');

const TOKEN_A = 'tenant-a-token-0001';
const TOKEN_B = 'tenant-b-token-0001';
const TOKEN_ACL = 'tenant-acl-token-01';
const TOKEN_A_OPS = 'tenant-a-ops-token-1';
const entries = [
  { token: TOKEN_A, name: 'app-a', right: 'readwrite', tenant: 'a', redisUrl: redisA.url },
  { token: TOKEN_A_OPS, name: 'app-a-ops', right: 'admin', tenant: 'a', redisUrl: redisA.url },
  { token: TOKEN_B, name: 'app-b', right: 'readwrite', tenant: 'b', redisUrl: `${redisB.url}/2` },
  {
    token: TOKEN_ACL,
    name: 'app1',
    right: 'readwrite',
    tenant: 'acl',
    redisUrl: `redis://app1:app1-secret@127.0.0.1:${own.port}`,
  },
];
const dir = mkdtempSync(join(tmpdir(), 'sluice-tenants-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'tokens.json');
writeFileSync(file, JSON.stringify({ tokens: entries }));

const broker = await startTestBroker(own.url, {
  flags: { 'tokens-file': file, 'tenant-idle-ms': 1000 },
});
t.teardown(() => broker.close());
const client = (token: string) => new Upstash({ url: broker.url, token, enableTelemetry: false });

t.test('no connection to a tenant Redis before its first request', async (t) => {
  t.equal(await brokerConnections(redisA.client()), 0, 'tenant a: none');
  t.equal(await brokerConnections(redisB.client()), 0, 'tenant b: none');
});

t.test('each tenant runs on its own Redis (the official client)', async (t) => {
  const a = client(TOKEN_A);
  const b = client(TOKEN_B);
  t.equal(await a.set('k', 'from-a'), 'OK');
  t.equal(await b.set('k', 'from-b'), 'OK');
  t.equal(await a.get('k'), 'from-a');
  t.equal(await b.get('k'), 'from-b');
  t.equal(await redisA.client().get('k'), 'from-a', 'written on tenant a');
  await redisB.client().select(2);
  t.equal(await redisB.client().get('k'), 'from-b', 'written on tenant b, database 2');
  t.equal(await own.client().get('k'), null, "nothing on the broker's own Redis");
  t.ok((await brokerConnections(redisA.client(), 'sluice-main')) > 0, 'tenant a: its main pool opened');
  const pipeline = a.pipeline();
  pipeline.incr('n');
  pipeline.incr('n');
  t.same(await pipeline.exec(), [1, 2], 'pipelines run there too');
  t.same(await a.multi().incr('n').get('n').exec(), [3, '3'], 'and transactions');
});

t.test('an ACL-user tenant: Redis refuses other keys and the error passes through', async (t) => {
  const app1 = client(TOKEN_ACL);
  t.equal(await app1.set('app1:x', 'mine'), 'OK');
  t.equal(await app1.get('app1:x'), 'mine');
  await t.rejects(app1.set('other:x', 'no'), /NOPERM/, "Redis's NOPERM reaches the client");
  const raw = await post(broker.url, '/', ['GET', 'other:x'], { Authorization: `Bearer ${TOKEN_ACL}` });
  t.equal(raw.status, 400);
  t.match((raw.body as { error: string }).error, /NOPERM/);
  t.equal(await own.client().get('app1:x'), 'mine', 'on the shared server');
});

t.test('pool metrics carry the tenant label (names from the tokens file)', async (t) => {
  await client(TOKEN_A).ping();
  const s = await scrape(broker.adminUrl);
  t.ok(value(s, 'sluice_pool_max_connections', { pool: 'main', tenant: 'a' }) > 0, 'tenant a');
  t.equal(
    value(s, 'sluice_pool_max_connections', { pool: 'main', tenant: 'default' }),
    broker.config.poolSize,
  );
  t.ok(value(s, 'sluice_redis_connections', { kind: 'held' }) >= broker.config.poolSize);
  t.equal(value(s, 'sluice_redis_connections', { kind: 'max' }), broker.config.maxRedisConnections);
});

t.test(
  'a tenant idle for SLUICE_TENANT_IDLE_MS has its connections closed, and reopens on demand',
  async (t) => {
    await client(TOKEN_A).set('idle', 'one');
    t.ok(
      await waitFor(async () => (await brokerConnections(redisA.client())) === 0, 20_000),
      'closed after the idle time',
    );
    t.equal(broker.tenants.tenant('a')?.open, false);
    t.equal(await client(TOKEN_A).get('idle'), 'one', 'the next request opens it again');
  },
);

t.test('a subscriber keeps its tenant open; messages come from its own Redis', async (t) => {
  const { openStream } = await import('./helpers/sse.js');
  const stream = await openStream(broker.url, '/subscribe/news', { token: TOKEN_B });
  t.equal(stream.status, 200);
  await stream.waitFor((line) => line.includes('subscribe,news,1'));
  await redisB.client().publish('news', 'hello');
  await stream.waitFor((line) => line.includes('message,news,hello'));
  stream.close();
});

t.test(
  'the global cap: a tenant past SLUICE_MAX_REDIS_CONNECTIONS is refused, naming the setting',
  async (t) => {
    const capped = await startTestBroker(own.url, {
      flags: { 'tokens-file': file, 'pool-size': 1, 'tenant-pool-size': 1, 'max-redis-connections': 2 },
    });
    t.teardown(() => capped.close());
    const ok = await post(capped.url, '/', ['SET', 'x', '1'], { Authorization: `Bearer ${TOKEN_A}` });
    t.equal(ok.status, 200, 'tenant a fits');
    const refused = await post(capped.url, '/', ['GET', 'x'], { Authorization: `Bearer ${TOKEN_B}` });
    t.equal(refused.status, 503);
    t.match(refused.body, { code: 'SLUICE_ERR_REDIS_CONNECTIONS_LIMIT' });
    t.match((refused.body as { error: string }).error, /tenant "b"/);
    t.match((refused.body as { error: string }).error, /SLUICE_MAX_REDIS_CONNECTIONS=2/);
    t.equal(capped.tenants.tenant('b')?.open, false, 'nothing opened to tenant b');
    t.equal(capped.budget.held, 2, 'the cap holds');
    const { openStream } = await import('./helpers/sse.js');
    const monitor = await openStream(capped.url, '/monitor');
    t.equal(monitor.status, 503, 'a MONITOR stream counts too');
    await monitor.ended;
    t.match(monitor.lines.join('\n'), /SLUICE_ERR_REDIS_CONNECTIONS_LIMIT/);
    t.equal(capped.budget.held, 2);
  },
);

t.test("a tenant's MONITOR watches its own Redis; its connection is counted and given back", async (t) => {
  const { openStream } = await import('./helpers/sse.js');
  const before = broker.budget.held;
  const monitor = await openStream(broker.url, '/monitor', { token: TOKEN_A_OPS });
  t.equal(monitor.status, 200);
  await monitor.waitFor((line) => line.includes('OK'));
  t.equal(broker.budget.held, before + 1, 'counted while open');
  await post(broker.url, '/', ['GET', 'on-default'], {});
  await post(broker.url, '/', ['GET', 'on-tenant-a'], { Authorization: `Bearer ${TOKEN_A}` });
  await monitor.waitFor((line) => line.includes('on-tenant-a'));
  t.notOk(monitor.lines.join('\n').includes('on-default'), "the broker's own Redis is not shown");
  monitor.close();
  t.ok(await waitFor(() => broker.budget.held <= before, 10_000), 'given back when the stream ends');
});

t.test("a tenant's full blocking pool names its setting and the tenant", async (t) => {
  const small = await startTestBroker(own.url, {
    flags: { 'tokens-file': file, 'tenant-blocking-pool-size': 1 },
  });
  t.teardown(() => small.close());
  const auth = { Authorization: `Bearer ${TOKEN_A}` };
  const blocked = post(small.url, '/', ['BLPOP', 'nothing-here', '3'], auth);
  t.ok(
    await waitFor(async () => (await redisA.client().info('clients')).includes('blocked_clients:1'), 10_000),
    "the first BLPOP blocks on tenant a's Redis",
  );
  const refused = await post(small.url, '/', ['BLPOP', 'nothing-here', '1'], auth);
  t.equal(refused.status, 503);
  t.match(refused.body, {
    code: 'SLUICE_ERR_BLOCKING_POOL_FULL',
    error: /of tenant "a".*SLUICE_TENANT_BLOCKING_POOL_SIZE=1/,
  });
  t.equal((await blocked).status, 200, 'the first one ran');
});

t.test('tenants are refused under Sentinel or Cluster, before anything connects', async (t) => {
  await t.rejects(
    startTestBroker(own.url, {
      flags: { 'tokens-file': file, 'redis-sentinels': '127.0.0.1:1', 'redis-sentinel-name': 'mymaster' },
    }),
    /tenants .* need a standalone SLUICE_REDIS_URL/,
  );
});

t.test('tokens-file checks: tenant names, URLs, one Redis per tenant', async (t) => {
  const problems = (tokens: Record<string, unknown>[]) => {
    const parsed = parseTokensFile(
      JSON.stringify({
        tokens: tokens.map((e, i) => ({ token: `token-${i}-xxxxxx`, right: 'readonly', ...e })),
      }),
    );
    return 'problems' in parsed ? parsed.problems.join('\n') : '';
  };
  t.equal(problems([{ tenant: 'a', redisUrl: 'redis://h:1' }]), '');
  t.match(
    problems([
      { tenant: 'a', redisUrl: 'redis://h:1' },
      { tenant: 'a', redisUrl: 'redis://h:2' },
    ]),
    /tokens\[1\]\.redisUrl differs from tokens\[0\]\.redisUrl for tenant "a"/,
  );
  t.match(problems([{ tenant: 'a' }]), /needs a "redisUrl"/);
  t.match(problems([{ redisUrl: 'redis://h:1' }]), /without a "tenant"/);
  t.match(problems([{ tenant: 'a b', redisUrl: 'redis://h:1' }]), /tenant: expected 1 to 32 letters/);
  t.match(problems([{ tenant: 'x'.repeat(33), redisUrl: 'redis://h:1' }]), /tenant: expected/);
  t.match(problems([{ tenant: 'default', redisUrl: 'redis://h:1' }]), /not "default"/);
  t.match(
    problems([{ tenant: 'a', redisUrl: 'http://h:1' }]),
    /redisUrl: expected a redis:\/\/ or rediss:\/\//,
  );
  t.match(problems([{ tenant: 'a', redisUrl: 'redis://h:1/x' }]), /database number/);
});
