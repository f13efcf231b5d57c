// The blocking pool through the broker: wake-ups, the pool bound, timeout capping, callers that go away, isolation.
import { Agent, request } from 'node:http';
import t from 'tap';
import { capBlockingTimeout } from '../broker/redis/blocking-timeout.js';
import { NO_TELEMETRY } from '../broker/telemetry.js';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { blockedClients, brokerConnections, startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';

const POOL = 8;
const redis = await startRedis();
t.teardown(() => redis.stop());
const refusals: string[] = [];
const broker = await startTestBroker(redis.url, {
  telemetry: { ...NO_TELEMETRY, refused: (reason) => void refusals.push(reason) },
  flags: { 'blocking-pool-size': POOL, 'blocking-max-ms': 400, 'blocking-idle-ms': 60000 },
});
t.teardown(() => broker.close());
const direct = redis.client();

t.test('timeout capping is pure and table-driven', async (t) => {
  const cases: [string, string[], number, string[] | string, number?][] = [
    ['blpop', ['a', 'b', '0'], 400, ['a', 'b', '0.4'], 400],
    ['blpop', ['a', '1.5'], 400, ['a', '0.4'], 400],
    ['blpop', ['a', '0.1'], 400, ['a', '0.1'], 100],
    ['brpop', ['a', '30'], 30000, ['a', '30'], 30000],
    ['blmpop', ['0', '1', 'a', 'LEFT'], 2000, ['2', '1', 'a', 'LEFT'], 2000],
    ['bzmpop', ['5', '1', 'z', 'MIN'], 2000, ['2', '1', 'z', 'MIN'], 2000],
    [
      'xread',
      ['COUNT', '1', 'BLOCK', '0', 'STREAMS', 's', '$'],
      1500,
      ['COUNT', '1', 'BLOCK', '1500', 'STREAMS', 's', '$'],
    ],
    [
      'xreadgroup',
      ['GROUP', 'g', 'c', 'BLOCK', '100', 'STREAMS', 's', '>'],
      1500,
      ['GROUP', 'g', 'c', 'BLOCK', '100', 'STREAMS', 's', '>'],
      100,
    ],
    ['wait', ['1', '0'], 250, ['1', '250'], 250],
    ['waitaof', ['1', '0', '99999'], 250, ['1', '0', '250'], 250],
    ['blpop', ['a', '-1'], 400, 'SLUICE_ERR_BLOCKING_BAD_TIMEOUT'],
    ['blpop', ['a', 'soon'], 400, 'SLUICE_ERR_BLOCKING_BAD_TIMEOUT'],
    ['xread', ['BLOCK', '-5', 'STREAMS', 's', '$'], 400, 'SLUICE_ERR_BLOCKING_BAD_TIMEOUT'],
    ['wait', ['0', '1.5'], 400, 'SLUICE_ERR_BLOCKING_BAD_TIMEOUT'],
  ];
  for (const [name, args, cap, expected, blockMs] of cases) {
    const result = capBlockingTimeout(name, args, cap);
    if (typeof expected === 'string') {
      t.equal(
        result instanceof Error && 'code' in result ? result.code : result,
        expected,
        `${name} ${args.join(' ')}`,
      );
    } else if (result instanceof Error) {
      t.fail(`${name} ${args.join(' ')}: ${result.message}`);
    } else {
      t.same(result.args, expected, `${name} ${args.join(' ')}`);
      if (blockMs !== undefined) t.equal(result.blockMs, blockMs, `${name} blocks at most ${blockMs} ms`);
    }
  }
});

t.test('a BLPOP is woken by a later LPUSH through the broker', async (t) => {
  const popped = post(broker.url, '/', ['BLPOP', 'wake', '5']);
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 1), 'the BLPOP blocks in Redis');
  const pushed = await post(broker.url, '/', ['LPUSH', 'wake', 'hello']);
  t.same(pushed.body, { result: 1 });
  const reply = await popped;
  t.equal(reply.status, 200);
  t.same(reply.body, { result: ['wake', 'hello'] });
  t.equal(broker.blockingPool.stats().busy, 0);
});

t.test('a timeout of 0 is capped to SLUICE_BLOCKING_MAX_MS and answers nil', async (t) => {
  const started = performance.now();
  const reply = await post(broker.url, '/', ['BLPOP', 'nothing-here', '0']);
  const took = performance.now() - started;
  t.equal(reply.status, 200);
  t.same(reply.body, { result: null });
  t.ok(took >= 350, `returned after the 400 ms cap (${Math.round(took)} ms)`);
  const xread = await post(broker.url, '/', ['XREAD', 'BLOCK', '0', 'STREAMS', 'no-stream', '$']);
  t.same(xread.body, { result: null }, 'XREAD BLOCK 0 is capped too');
});

t.test('a Sluice-Deadline-Ms shorter than the cap caps the block', async (t) => {
  const longBroker = await startTestBroker(redis.url, { flags: { 'blocking-max-ms': 60000 } });
  t.teardown(() => longBroker.close());
  const started = performance.now();
  const reply = await post(longBroker.url, '/', ['BRPOP', 'nothing-here', '0'], {
    'Sluice-Deadline-Ms': '200',
  });
  t.same(reply.body, { result: null });
  t.ok(performance.now() - started < 10000, 'answered long before the 60 s cap');
});

t.test(
  'a blocking connection killed mid-block: 502, dropped from the pool, replaced on demand',
  async (t) => {
    const longBroker = await startTestBroker(redis.url, {
      flags: { 'blocking-pool-size': 1, 'blocking-max-ms': 60000 },
    });
    t.teardown(() => longBroker.close());
    const popped = post(longBroker.url, '/', ['BLPOP', 'killed', '0']);
    t.ok(await waitFor(async () => (await blockedClients(direct)) === 1));
    const list = (await direct.client('LIST')) as string;
    const line = list.split('\n').find((l) => / cmd=blpop/.test(l) && / name=sluice-blocking-/.test(l));
    const id = /^id=(\d+)/.exec(line ?? '')?.[1];
    t.ok(id, 'found the blocked connection');
    await direct.client('KILL', 'ID', id!);
    const reply = await popped;
    t.equal(reply.status, 502);
    t.match(reply.body, { code: 'SLUICE_ERR_REDIS_CONNECTION_LOST' });
    t.ok(
      await waitFor(() => longBroker.blockingPool.stats().open === 0),
      'the dead connection left the pool',
    );
    await direct.rpush('killed', 'v');
    t.same((await post(longBroker.url, '/', ['BLPOP', 'killed', '1'])).body, { result: ['killed', 'v'] });
  },
);

t.test('a negative or non-numeric timeout is a 400 and nothing is sent', async (t) => {
  await direct.rpush('kept', 'x');
  for (const timeout of ['-1', 'abc', '']) {
    const reply = await post(broker.url, '/', ['BLPOP', 'kept', timeout]);
    t.equal(reply.status, 400, `timeout ${JSON.stringify(timeout)}`);
    t.match(reply.body, { code: 'SLUICE_ERR_BLOCKING_BAD_TIMEOUT' });
  }
  t.equal(await direct.llen('kept'), 1, 'nothing was popped');
});

t.test('blocking inside /multi-exec runs in the transaction without blocking', async (t) => {
  await direct.rpush('tx-list', 'a');
  const reply = await post(broker.url, '/multi-exec', [
    ['BLPOP', 'tx-list', '0'],
    ['BLPOP', 'tx-list', '0'],
  ]);
  t.same(reply.body, [{ result: ['tx-list', 'a'] }, { result: null }]);
});

t.test('a blocking command must be alone in a pipeline', async (t) => {
  const reply = await post(broker.url, '/pipeline', [
    ['GET', 'x'],
    ['BLPOP', 'x', '1'],
  ]);
  t.match(reply.body, [{ code: 'SLUICE_ERR_COMMAND_REFUSED' }, { code: 'SLUICE_ERR_COMMAND_REFUSED' }]);
  const alone = await post(broker.url, '/pipeline', [['BLPOP', 'nothing-here', '0.05']]);
  t.same(alone.body, [{ result: null }]);
});

t.test('pool full: 503 at once with Retry-After and the setting named; main pool unaffected', async (t) => {
  const blocked = Array.from({ length: POOL }, (_, i) =>
    post(broker.url, '/', ['BLPOP', `full-${i}`, '10'], { 'Sluice-Deadline-Ms': '3000' }),
  );
  t.ok(await waitFor(() => broker.blockingPool.stats().busy === POOL), 'every blocking connection is busy');
  t.ok(await waitFor(async () => (await blockedClients(direct)) === POOL), 'Redis sees them blocked');
  const started = performance.now();
  const refused = await post(broker.url, '/', ['BLPOP', 'one-more', '1']);
  t.ok(performance.now() - started < 1000, 'refused at once, not queued');
  t.equal(refused.status, 503);
  t.equal(refused.headers.get('retry-after'), '1');
  t.match(refused.body, { code: 'SLUICE_ERR_BLOCKING_POOL_FULL', error: /SLUICE_BLOCKING_POOL_SIZE/ });
  t.ok(refusals.includes('blocking_pool_full'), 'the refusal is counted');
  t.same((await post(broker.url, '/', ['PING'])).body, { result: 'PONG' }, 'the main pool still answers');
  t.same(broker.blockingPool.stats(), { size: POOL, busy: POOL, open: POOL });
  for (let i = 0; i < POOL; i++) await direct.lpush(`full-${i}`, 'v');
  const replies = await Promise.all(blocked);
  t.same(
    replies.map((r) => r.body),
    Array.from({ length: POOL }, (_, i) => ({ result: [`full-${i}`, 'v'] })),
  );
  t.equal(broker.blockingPool.stats().busy, 0);
  t.equal(broker.blockingPool.stats().open, POOL, 'idle connections are kept for reuse');
  t.ok(
    await waitFor(async () => (await brokerConnections(direct, 'sluice-blocking-')) === POOL),
    'and Redis lists exactly them',
  );
});

t.test('a caller that disconnects mid-block frees its connection', async (t) => {
  // A long cap so that only the disconnect can end the block within the test.
  const longBroker = await startTestBroker(redis.url, {
    flags: { 'blocking-pool-size': 1, 'blocking-max-ms': 60000 },
  });
  t.teardown(() => longBroker.close());
  const send = (key: string) => {
    const body = JSON.stringify(['BLPOP', key, '0']);
    const req = request(`${longBroker.url}/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Length': Buffer.byteLength(body) },
    });
    req.on('error', () => {});
    req.end(body);
    return req;
  };
  const first = send('gone-1');
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 1), 'the BLPOP blocks');
  t.equal(longBroker.blockingPool.stats().busy, 1);
  first.destroy();
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 0), 'Redis no longer blocks it');
  t.ok(await waitFor(() => longBroker.blockingPool.stats().busy === 0), 'the connection is free again');
  t.equal(longBroker.blockingPool.stats().open, 1, 'freed by CLIENT UNBLOCK and kept, not closed');
  const list = (await direct.client('LIST')) as string;
  const blockingLines = list.split('\n').filter((l) => / name=sluice-blocking-/.test(l));
  t.ok(
    blockingLines.every((l) => !/ cmd=blpop/.test(l) || / flags=N /.test(l)),
    'no broker connection is left blocked in CLIENT LIST',
  );
  t.ok(await waitFor(() => longBroker.blockingPool.stats().open <= 1), 'no connection leaked');
  // The single connection serves the next caller, and an LPUSH is not swallowed by the abandoned BLPOP.
  await direct.lpush('gone-1', 'kept');
  t.equal(await direct.llen('gone-1'), 1, 'the abandoned BLPOP took nothing');
  const next = await post(longBroker.url, '/', ['BLPOP', 'gone-1', '1']);
  t.same(next.body, { result: ['gone-1', 'kept'] });
  // Repeat a few times: never more connections than the bound, never one left blocked.
  for (let i = 0; i < 3; i++) {
    const req = send(`gone-loop-${i}`);
    await waitFor(async () => (await blockedClients(direct)) === 1);
    req.destroy();
    t.ok(await waitFor(async () => (await blockedClients(direct)) === 0), `round ${i}: unblocked`);
  }
  t.ok(await waitFor(() => longBroker.blockingPool.stats().busy === 0));
  t.ok((await brokerConnections(direct, 'sluice-blocking-')) <= POOL + 1, 'connections stay bounded');
});

t.test('main-pool latency does not grow while the blocking pool is saturated', async (t) => {
  // Its own broker with a long cap, so the BLPOPs stay blocked for the whole measurement.
  const satBroker = await startTestBroker(redis.url, {
    flags: { 'blocking-pool-size': POOL, 'blocking-max-ms': 60000 },
  });
  t.teardown(() => satBroker.close());
  const agent = new Agent({ keepAlive: true, maxSockets: 20 });
  t.teardown(() => agent.destroy());
  const GETS = 1500;
  await direct.set('hot', 'v');
  const body = JSON.stringify(['GET', 'hot']);
  const get = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(`${satBroker.url}/`, {
        method: 'POST',
        agent,
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Length': Buffer.byteLength(body) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`GET: ${res.statusCode}`)),
        );
      });
      req.end(body);
    });
  const run = async () => {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < GETS) {
        next++;
        await get();
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    return performance.now() - started;
  };
  await run(); // warm-up: sockets, JIT
  // Two samples each side, the best of each compared: other test files share the two cores and add bursts of noise.
  const before = await run();
  const blocked = Array.from({ length: POOL }, (_, i) =>
    post(satBroker.url, '/', ['BLPOP', `sat-${i}`, '0']),
  );
  t.ok(await waitFor(async () => (await blockedClients(direct)) === POOL), `${POOL} BLPOPs block`);
  const saturated = Math.min(await run(), await run());
  t.same(
    satBroker.blockingPool.stats(),
    { size: POOL, busy: POOL, open: POOL },
    'still saturated after the GETs',
  );
  for (let i = 0; i < POOL; i++) await direct.lpush(`sat-${i}`, 'v');
  const replies = await Promise.all(blocked);
  t.ok(replies.every((r) => r.status === 200 && Array.isArray((r.body as { result: unknown }).result)));
  const baseline = Math.min(before, await run());
  t.comment(
    `${GETS} GETs (best of two): baseline ${Math.round(baseline)} ms, with ${POOL} BLPOPs blocking ${Math.round(saturated)} ms (ratio ${(saturated / baseline).toFixed(2)})`,
  );
  // Generous: a main pool stalled behind a blocked connection would add whole seconds, not a ratio of 3.
  t.ok(saturated < baseline * 3 + 200, 'no added delay beyond noise');
});

t.test('idle blocking connections are closed after SLUICE_BLOCKING_IDLE_MS', async (t) => {
  const idleBroker = await startTestBroker(redis.url, {
    flags: { 'blocking-pool-size': 2, 'blocking-idle-ms': 200 },
  });
  t.teardown(() => idleBroker.close());
  t.equal(idleBroker.blockingPool.stats().open, 0, 'opened lazily');
  t.same((await post(idleBroker.url, '/', ['BLPOP', 'idle-key', '0.05'])).body, { result: null });
  t.equal(idleBroker.blockingPool.stats().open, 1);
  t.ok(await waitFor(() => idleBroker.blockingPool.stats().open === 0), 'closed once idle');
});
