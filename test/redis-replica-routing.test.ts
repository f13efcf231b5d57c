// Read regions against a real primary and a real replica (`replicaof`): where reads and writes go, the sync token's
// position, a read parked until the stopped replica resumes, bounded waits, bad tokens, a socket's order (issue 20).
import t from 'tap';
import type { Redis } from 'ioredis';
import { type Broker, startBroker } from '../broker/lifecycle/broker.js';
import { createLogger } from '../broker/log.js';
import { request } from 'node:http';
import { post, spawnBuiltBroker, startTestBroker, TOKEN, testConfig } from './helpers/broker.js';
import { scrape, value } from './helpers/metrics.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';
import { Peer } from './helpers/ws.js';

t.setTimeout(120_000);

const SECRET = 'shared-deployment-secret';

async function linkUp(replica: Redis): Promise<void> {
  await waitFor(async () => (await replica.info('replication')).includes('master_link_status:up'), 20_000, {
    what: 'the replica to sync with the primary',
  });
}

/** Calls of `command` Redis counted in INFO commandstats. */
async function calls(redis: Redis, command: string): Promise<number> {
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await redis.info('commandstats'));
  return match ? Number(match[1]) : 0;
}

const primary: TestRedis = await startRedis();
const replica: TestRedis = await startRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
t.teardown(async () => {
  replica.resume();
  await replica.stop();
  await primary.stop();
});
await linkUp(replica.client());

async function regionBroker(flags: Record<string, string | number | boolean> = {}): Promise<Broker> {
  const broker = await startTestBroker(primary.url, {
    flags: { 'replica-url': replica.url, 'sync-secret': SECRET, ...flags },
  });
  await waitFor(() => broker.replicaPool!.stats().ready > 0, 10_000, { what: 'the replica pool' });
  return broker;
}

t.test(
  'reads go to the replica, writes and mixed pipelines to the primary; tokens carry the position',
  async (t) => {
    const broker = await regionBroker();
    t.teardown(() => broker.close());
    const write = await post(broker.url, '/', ['SET', 'routing:k', 'v1']);
    t.same(write.body, { result: 'OK' });
    const token = write.headers.get('upstash-sync-token')!;
    t.match(token, /^s1\.[0-9a-f]{40}\.\d+\./, 'a write answers with a signed position');
    const offset = Number(token.split('.')[2]);
    const primaryOffset = Number(
      /master_repl_offset:(\d+)/.exec(await primary.client().info('replication'))![1],
    );
    t.ok(offset > 0 && offset <= primaryOffset, `the position (${offset}) is the primary's after the write`);

    const replicaGets = await calls(replica.client(), 'get');
    const primaryGets = await calls(primary.client(), 'get');
    const read = await post(broker.url, '/', ['GET', 'routing:k'], { 'upstash-sync-token': token });
    t.same(read.body, { result: 'v1' }, 'the read sees the write');
    t.not(read.headers.get('upstash-sync-token'), token, 'a new token on every response');
    t.equal(
      read.headers.get('upstash-sync-token')!.split('.')[2],
      String(offset),
      'a read keeps the position',
    );
    t.equal(await calls(replica.client(), 'get'), replicaGets + 1, 'the replica served it');
    t.equal(await calls(primary.client(), 'get'), primaryGets, 'the primary did not');

    const pipeline = await post(broker.url, '/pipeline', [
      ['GET', 'routing:k'],
      ['INCR', 'routing:n'],
    ]);
    t.same(pipeline.body, [{ result: 'v1' }, { result: 1 }]);
    t.equal(
      await calls(primary.client(), 'get'),
      primaryGets + 1,
      'a mixed pipeline runs whole on the primary',
    );
    t.equal(await calls(replica.client(), 'get'), replicaGets + 1);

    const reads = await post(
      broker.url,
      '/pipeline',
      [
        ['GET', 'routing:k'],
        ['STRLEN', 'routing:k'],
      ],
      {
        'upstash-sync-token': pipeline.headers.get('upstash-sync-token')!,
      },
    );
    t.same(reads.body, [{ result: 'v1' }, { result: 2 }]);
    t.equal(
      await calls(replica.client(), 'get'),
      replicaGets + 2,
      'a read-only pipeline goes to the replica',
    );

    const multi = await post(broker.url, '/multi-exec', [['GET', 'routing:k']]);
    t.same(multi.body, [{ result: 'v1' }]);
    t.equal(await calls(primary.client(), 'get'), primaryGets + 2, '/multi-exec always runs on the primary');

    const samples = await scrape(broker.adminUrl);
    const byReplica =
      value(samples, 'sluice_replica_reads_total', { outcome: 'immediate' }) +
      value(samples, 'sluice_replica_reads_total', { outcome: 'waited' });
    t.equal(
      byReplica,
      2,
      'both reads counted as served by the replica (waited when its state was not read yet)',
    );
  },
);

t.test('a read parked while the replica is stopped is served by it once it resumes', async (t) => {
  const broker = await regionBroker({ 'sync-wait-ms': 20_000, 'redis-stall-ms': 60_000 });
  t.teardown(() => broker.close());
  await post(broker.url, '/', ['GET', 'warm']); // the replica connection is up and the state known
  replica.pause();
  t.teardown(() => replica.resume());
  const write = await post(broker.url, '/', ['SET', 'parked:k', 'fresh']);
  const token = write.headers.get('upstash-sync-token')!;
  const before = await calls(primary.client(), 'get');
  const reading = post(broker.url, '/', ['GET', 'parked:k'], { 'upstash-sync-token': token });
  await waitFor(() => broker.watcher!.parked === 1, 10_000, { what: 'the read to park' });
  replica.resume();
  const read = await reading;
  t.same(read.body, { result: 'fresh' }, 'never stale');
  t.equal(await calls(primary.client(), 'get'), before, 'the replica served it, not the primary');
  const samples = await scrape(broker.adminUrl);
  t.equal(value(samples, 'sluice_replica_reads_total', { outcome: 'waited' }), 1);
  t.ok(value(samples, 'sluice_replica_watcher_polls_total') >= 1);
});

t.test(
  'waits are bounded: a stopped replica sends token reads to the primary after SLUICE_SYNC_WAIT_MS',
  async (t) => {
    const broker = await regionBroker({ 'sync-wait-ms': 100, 'replica-max-lag-ms': 200 });
    t.teardown(() => broker.close());
    await post(broker.url, '/', ['GET', 'warm']);
    replica.pause();
    t.teardown(() => replica.resume());
    const write = await post(broker.url, '/', ['SET', 'bounded:k', 'v']);
    const started = performance.now();
    const read = await post(broker.url, '/', ['GET', 'bounded:k'], {
      'upstash-sync-token': write.headers.get('upstash-sync-token')!,
    });
    const tookMs = performance.now() - started;
    t.same(read.body, { result: 'v' });
    t.ok(tookMs < 5000, `answered by the primary in ${Math.round(tookMs)} ms`);
    // Tokenless reads: the lag cannot be measured while the replica is stopped, so past the max lag they go to the
    // primary too.
    await waitFor(
      async () =>
        (await post(broker.url, '/', ['GET', 'bounded:k'])).status === 200 &&
        value(await scrape(broker.adminUrl), 'sluice_replica_reads_total', { outcome: 'primary_fallback' }) >=
          2,
      10_000,
      { what: 'a tokenless read served by the primary' },
    );
    replica.resume();
    t.pass('tokenless reads left the stopped replica');
  },
);

t.test(
  'bad tokens are counted and served as tokenless; an offset past the primary does not wait',
  async (t) => {
    const broker = await regionBroker({ 'sync-wait-ms': 10_000 });
    t.teardown(() => broker.close());
    await post(broker.url, '/', ['SET', 'bad:k', 'v']);
    const forged = await post(broker.url, '/', ['GET', 'bad:k'], {
      'upstash-sync-token': `s1.${'f'.repeat(40)}.999999999.${'A'.repeat(22)}.0123456789ab-1`,
    });
    t.same(forged.body, { result: 'v' });
    // A token of this deployment whose offset is far past the primary's (as if forged with the secret).
    const other = await startTestBroker(primary.url, { flags: { 'sync-secret': SECRET } });
    t.teardown(() => other.close());
    const { SyncTokens } = await import('../broker/protocol/sync-token.js');
    const replid = /master_replid:([0-9a-f]{40})/.exec(await primary.client().info('replication'))![1]!;
    const future = new SyncTokens({ secret: SECRET, positions: true, perTokenFloor: false }).issue({
      replid,
      offset: 1e12,
    });
    const started = performance.now();
    const far = await post(broker.url, '/', ['GET', 'bad:k'], { 'upstash-sync-token': future });
    t.same(far.body, { result: 'v' });
    t.ok(performance.now() - started < 5000, 'not held for SLUICE_SYNC_WAIT_MS (10 s)');
    const samples = await scrape(broker.adminUrl);
    t.equal(value(samples, 'sluice_replica_reads_total', { outcome: 'bad_token' }), 1);
    t.equal(value(samples, 'sluice_replica_reads_total', { outcome: 'unsatisfiable' }), 1);
    // The primary-region broker (no replica, same secret) hands out positions the read region accepts.
    const write = await post(other.url, '/', ['SET', 'bad:k', 'w']);
    t.match(write.headers.get('upstash-sync-token'), /^s1\./);
    const read = await post(broker.url, '/', ['GET', 'bad:k'], {
      'upstash-sync-token': write.headers.get('upstash-sync-token')!,
    });
    t.same(read.body, { result: 'w' });
  },
);

t.test('a WebSocket read sent after a write on the same socket sees it', async (t) => {
  const broker = await regionBroker({ 'sync-wait-ms': 100 });
  t.teardown(() => broker.close());
  const peer = await Peer.open(broker.url);
  t.teardown(() => peer.close());
  for (let i = 0; i < 50; i++) {
    // Sent back to back, without waiting for the write's reply.
    const wrote = peer.request({ cmd: ['SET', 'ws:k', String(i)] });
    const read = peer.request({ cmd: ['GET', 'ws:k'] });
    t.same((await wrote).result, 'OK');
    t.equal((await read).result, String(i), `round ${i}`);
  }
  const samples = await scrape(broker.adminUrl);
  const served =
    value(samples, 'sluice_replica_reads_total', { outcome: 'immediate' }) +
    value(samples, 'sluice_replica_reads_total', { outcome: 'waited' });
  t.ok(served > 0, `some reads were served by the replica (${served})`);
});

t.test('SLUICE_REPLICA_URL is refused with Sentinel or Cluster', async (t) => {
  t.throws(
    () => testConfig({ 'replica-url': replica.url, 'redis-cluster-nodes': '127.0.0.1:7000' }),
    /SLUICE_REPLICA_URL works with a standalone primary/,
  );
  t.throws(
    () =>
      testConfig({
        'replica-url': replica.url,
        'redis-sentinels': '127.0.0.1:26379',
        'redis-sentinel-name': 'm',
      }),
    /SLUICE_REPLICA_URL/,
  );
});

t.test('without a replica or a secret, tokens stay bare and no ROLE is written', async (t) => {
  const broker = await startBroker({
    config: testConfig(),
    redisUrl: primary.url,
    tokens: [{ token: TOKEN, name: 'SLUICE_TOKEN', right: 'admin' }],
    logger: createLogger('silent'),
  });
  t.teardown(() => broker.close());
  const roles = await calls(primary.client(), 'role');
  const write = await post(broker.url, '/', ['SET', 'plain:k', 'v']);
  t.match(write.headers.get('upstash-sync-token'), /^[0-9a-f]{12}-[0-9a-z]+$/);
  t.equal(await calls(primary.client(), 'role'), roles);
});

t.test(
  'a Redis user without ROLE and INFO: start-up says so; token reads go to the primary, others to the replica',
  async (t) => {
    for (const server of [primary, replica])
      await server
        .client()
        .call('ACL', 'SETUSER', 'norole', 'on', '>pw', '~*', '&*', '+@all', '-role', '-info');
    t.teardown(async () => {
      for (const server of [primary, replica]) await server.client().call('ACL', 'DELUSER', 'norole');
    });
    const as = (url: string) => url.replace('redis://', 'redis://norole:pw@');
    const logLines: string[] = [];
    const broker = await startTestBroker(as(primary.url), {
      flags: { 'replica-url': as(replica.url), 'sync-secret': SECRET, 'sync-wait-ms': 10_000 },
      logLines,
    });
    t.teardown(() => broker.close());
    await waitFor(() => broker.replicaPool!.stats().ready > 0, 10_000, { what: 'the replica pool' });
    const events = logLines.map((line) => (JSON.parse(line) as { event?: string }).event);
    t.ok(events.includes('sync_positions_unavailable'), 'says tokens carry no position');
    t.ok(events.includes('replica_state_unavailable'), "says the replica's state cannot be read");
    const write = await post(broker.url, '/', ['SET', 'acl:k', 'v']);
    t.match(write.headers.get('upstash-sync-token'), /^[0-9a-f]{12}-[0-9a-z]+$/, 'no position to carry');
    // A token of the deployment (from a broker whose user may run ROLE): the replica's state is unknown here.
    const other = await startTestBroker(primary.url, { flags: { 'sync-secret': SECRET } });
    t.teardown(() => other.close());
    const token = (await post(other.url, '/', ['SET', 'acl:k', 'w'])).headers.get('upstash-sync-token')!;
    const primaryGets = await calls(primary.client(), 'get');
    const started = performance.now();
    t.same((await post(broker.url, '/', ['GET', 'acl:k'], { 'upstash-sync-token': token })).body, {
      result: 'w',
    });
    t.ok(performance.now() - started < 5000, 'not held for SLUICE_SYNC_WAIT_MS');
    t.equal(await calls(primary.client(), 'get'), primaryGets + 1, 'the primary served the token read');
    await waitFor(
      () =>
        replica
          .client()
          .get('acl:k')
          .then((v) => v === 'w'),
      10_000,
      { what: 'replication' },
    );
    const replicaGets = await calls(replica.client(), 'get');
    t.same((await post(broker.url, '/', ['GET', 'acl:k'])).body, { result: 'w' });
    t.equal(await calls(replica.client(), 'get'), replicaGets + 1, 'the replica served the tokenless read');
  },
);

t.test(
  'only requests that may write are followed by a ROLE; a PING does not send a socket to the primary',
  async (t) => {
    const broker = await regionBroker();
    t.teardown(() => broker.close());
    const roles = () => calls(primary.client(), 'role');
    let before = await roles();
    await post(broker.url, '/', ['PING']);
    await post(broker.url, '/pipeline', [['ECHO', 'x'], ['TIME']]);
    t.equal(await roles(), before, 'no ROLE after PING, ECHO, TIME');
    before = await roles();
    await post(broker.url, '/', ['PUBLISH', 'ch', 'm']);
    await post(broker.url, '/', ['EVAL', 'return 1', '0']);
    t.equal(await roles(), before + 2, 'PUBLISH and EVAL may replicate: a ROLE after each');
    const peer = await Peer.open(broker.url);
    t.teardown(() => peer.close());
    t.equal((await peer.request({ cmd: ['PING'] })).result, 'PONG');
    const replicaGets = await calls(replica.client(), 'get');
    await waitFor(
      async () => {
        await peer.request({ cmd: ['GET', 'routing:none'] });
        return (await calls(replica.client(), 'get')) > replicaGets;
      },
      10_000,
      { what: "the socket's read served by the replica after its PING" },
    );
    t.pass("the socket's reads still go to the replica");
  },
);

/** POSTs on a new connection each time (so that the requests spread over a multi-process broker's workers). */
function postFresh(url: string, body: unknown, token: string): Promise<{ result: unknown; token: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/`,
      {
        method: 'POST',
        agent: false,
        headers: { Authorization: `Bearer ${TOKEN}`, 'upstash-sync-token': token },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () =>
          resolve({
            result: (JSON.parse(text) as { result: unknown }).result,
            token: String(res.headers['upstash-sync-token']),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

t.test("workers share the process's random secret: a token from one verifies at the others", async (t) => {
  const broker = await spawnBuiltBroker(primary.url, ['--workers', '2', '--replica-url', replica.url]);
  t.teardown(() => void broker.child.kill('SIGKILL'));
  let token = '';
  for (let i = 0; i < 30; i++) {
    const write = await postFresh(broker.url, ['SET', 'workers:k', String(i)], token);
    const read = await postFresh(broker.url, ['GET', 'workers:k'], write.token);
    t.equal(read.result, String(i), `round ${i}`);
    token = read.token;
  }
  const samples = await scrape(broker.adminUrl);
  t.equal(
    value(samples, 'sluice_replica_reads_total', { outcome: 'bad_token' }),
    0,
    'no token failed to verify',
  );
});
