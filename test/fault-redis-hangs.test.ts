// Redis SIGSTOPped: written commands time out with 504, the admission queue stays bounded, SIGCONT recovers.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { type CallResult, call, codeOf, keepAliveAgent, median, tally } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const COMMAND_TIMEOUT_MS = 800;
const MAX_INFLIGHT = 20;
const QUEUE_MAX = 30;
const QUEUE_TIMEOUT_MS = 1500;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  flags: {
    'command-timeout-ms': COMMAND_TIMEOUT_MS,
    'max-inflight': MAX_INFLIGHT,
    'queue-max': QUEUE_MAX,
    'queue-timeout-ms': QUEUE_TIMEOUT_MS,
  },
});
t.teardown(() => broker.close());
const agent = keepAliveAgent(256);
t.teardown(() => agent.destroy());

t.test('SIGSTOP redis: 504 at the command timeout, bounded queue, recovery on SIGCONT', async (t) => {
  t.equal((await call(broker.url, '/', ['set', 'before', '1'], { agent })).status, 200);
  redis.pause();
  t.teardown(() => redis.resume());

  let maxWaiting = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxWaiting = Math.max(maxWaiting, broker.admission.waiting);
      await sleep(5);
    }
  })();

  // Three waves: the first fills the running slots and the queue; later ones arrive while everything is stuck.
  const results: CallResult[] = [];
  for (let wave = 0; wave < 3; wave++) {
    const batch = Array.from({ length: 100 }, (_, i) =>
      call(broker.url, '/', ['incr', `hang:${wave}:${i}`], { agent, hangMs: 15_000 }),
    );
    results.push(...(await Promise.all(batch)));
  }
  sampling = false;
  await sampler;

  t.comment(`while stopped: ${JSON.stringify(tally(results))}; max waiting ${maxWaiting}`);
  t.ok(maxWaiting <= QUEUE_MAX, `admission.waiting stayed ≤ ${QUEUE_MAX} (max ${maxWaiting})`);
  const allowed = new Set(['SLUICE_ERR_REDIS_TIMEOUT', 'SLUICE_ERR_QUEUE_FULL', 'SLUICE_ERR_QUEUE_TIMEOUT']);
  t.same(
    tally(results.filter((r) => !allowed.has(codeOf(r) ?? ''))),
    {},
    'every request got 504 REDIS_TIMEOUT or 503 QUEUE_FULL / QUEUE_TIMEOUT',
  );
  const timeouts = results.filter((r) => codeOf(r) === 'SLUICE_ERR_REDIS_TIMEOUT');
  t.equal(timeouts.length, MAX_INFLIGHT, 'exactly the running requests were written and timed out');
  t.ok(timeouts.every((r) => r.status === 504));
  const timeoutMs = timeouts.map((r) => r.ms);
  t.comment(`504 after median ${median(timeoutMs).toFixed(0)} ms (timeout ${COMMAND_TIMEOUT_MS} ms)`);
  t.ok(
    timeoutMs.every((ms) => ms >= COMMAND_TIMEOUT_MS - 50 && ms < COMMAND_TIMEOUT_MS + 1500),
    '504s came at the command timeout',
  );
  const full = results.filter((r) => codeOf(r) === 'SLUICE_ERR_QUEUE_FULL');
  t.ok(full.length > 0, 'requests beyond the queue were refused');
  t.ok(
    full.every((r) => r.status === 503 && r.headers['retry-after'] !== undefined),
    'QUEUE_FULL is 503 with Retry-After',
  );
  t.comment(`QUEUE_FULL after median ${median(full.map((r) => r.ms)).toFixed(1)} ms`);
  // At once: it never waits in the queue (a generous bound: the machine running the tests is loaded).
  t.ok(median(full.map((r) => r.ms)) < QUEUE_TIMEOUT_MS, 'QUEUE_FULL is answered at once');
  const queueTimeouts = results.filter((r) => codeOf(r) === 'SLUICE_ERR_QUEUE_TIMEOUT');
  t.ok(
    queueTimeouts.every((r) => r.status === 503 && r.ms >= QUEUE_TIMEOUT_MS - 50),
    'QUEUE_TIMEOUT is a 503 after the queue timeout',
  );

  const resumedAt = performance.now();
  redis.resume();
  let ok: CallResult | undefined;
  while (performance.now() - resumedAt < 5000) {
    ok = await call(broker.url, '/', ['get', 'before'], { agent });
    if (ok.status === 200) break;
    await sleep(50);
  }
  t.same(ok?.body, { result: '1' }, 'requests succeed after SIGCONT');
  t.comment(`recovered ${(performance.now() - resumedAt).toFixed(0)} ms after SIGCONT`);

  // Nothing leaks: the stuck commands got their late replies and freed their slots.
  await sleep(200);
  t.equal(broker.admission.running, 0, 'no admission slot is held');
  t.equal(broker.admission.waiting, 0, 'nothing waits');
  t.equal(broker.pool.stats().inflight, 0, 'no command is in flight on the pool');
  // Only the 20 written INCRs ran, late; refused ones never reached Redis.
  const keys = await redis.client().keys('hang:*');
  t.equal(keys.length, MAX_INFLIGHT, 'only the written commands ran (they may have: 504 says so)');
});
