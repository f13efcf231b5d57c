// Overload: 10x more concurrent requests than pool slots + queue while Redis is stalled; the excess is refused at once.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { type CallResult, call, codeOf, keepAliveAgent, median, tally } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const MAX_INFLIGHT = 10;
const QUEUE_MAX = 20;
const CAPACITY = MAX_INFLIGHT + QUEUE_MAX;
const REQUESTS = CAPACITY * 10;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  flags: {
    'max-inflight': MAX_INFLIGHT,
    'queue-max': QUEUE_MAX,
    'queue-timeout-ms': 15_000,
    'command-timeout-ms': 15_000,
  },
});
t.teardown(() => broker.close());
const agent = keepAliveAgent(REQUESTS + 8);
t.teardown(() => agent.destroy());

/** sluice_refusals_total{reason="queue_full"}, 0 before the first refusal. */
async function queueFullCounted(): Promise<number> {
  const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
  return Number(/^sluice_refusals_total\{reason="queue_full"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
}

t.test('10x capacity while Redis is stalled: excess refused at once, accepted complete', async (t) => {
  // Warm the connections so the burst measures the broker, not TCP set-up.
  await Promise.all(Array.from({ length: REQUESTS }, () => call(broker.url, '/', ['ping'], { agent })));
  // The warm-up itself may overflow the queue on a loaded machine: count only the rounds' refusals.
  const countedBefore = await queueFullCounted();
  const rssBefore = process.memoryUsage().rss;
  const value = 'x'.repeat(10_000);

  let refusedTotal = 0;
  for (let round = 0; round < 3; round++) {
    // SIGSTOP stalls Redis, so written commands wait and the pool backs up; it resumes only once every refusal
    // has come back, which proves the refusals did not wait for Redis.
    redis.pause();
    const settled: CallResult[] = [];
    const burst = Array.from({ length: REQUESTS }, (_, i) =>
      call(broker.url, '/', ['set', `over:${round}:${i}`, value], { agent, hangMs: 20_000 }).then((r) => {
        settled.push(r);
        return r;
      }),
    );
    const deadline = performance.now() + 10_000;
    while (settled.length < REQUESTS - CAPACITY && performance.now() < deadline) await sleep(10);
    const settledWhileStopped = settled.length;
    redis.resume();
    const results: CallResult[] = await Promise.all(burst);
    t.equal(
      settledWhileStopped,
      REQUESTS - CAPACITY,
      'the excess was answered while Redis was still stopped',
    );

    const full = results.filter((r) => codeOf(r) === 'SLUICE_ERR_QUEUE_FULL');
    const ok = results.filter((r) => r.status === 200);
    refusedTotal += full.length;
    t.comment(
      `round ${round}: ${JSON.stringify(tally(results))}; QUEUE_FULL median ${median(full.map((r) => r.ms)).toFixed(1)} ms, ` +
        `accepted median ${median(ok.map((r) => r.ms)).toFixed(0)} ms`,
    );
    t.equal(
      ok.length + full.length,
      REQUESTS,
      'every request was either accepted and completed, or refused as full',
    );
    t.equal(ok.length, CAPACITY, `exactly the ${CAPACITY} that fit (running + queued) completed`);
    t.ok(
      full.every((r) => r.status === 503 && r.headers['retry-after'] !== undefined),
      'refusals are 503 with Retry-After',
    );
    // At once: a generous wall-clock bound, since 300 clients share this (loaded) process with the broker.
    t.ok(median(full.map((r) => r.ms)) < 3000, 'refusals come at once');
    const okKeys = results.flatMap((r, i) => (r.status === 200 ? [`over:${round}:${i}`] : []));
    const stored = await redis.client().exists(...okKeys);
    t.equal(stored, ok.length, 'every accepted SET is stored');
  }

  t.equal(broker.admission.waiting, 0, 'the queue is empty again');
  const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  const counted = (await queueFullCounted()) - countedBefore;
  t.comment(`RSS growth ${rssGrowthMb.toFixed(1)} MB; sluice_refusals_total{reason="queue_full"} ${counted}`);
  t.ok(rssGrowthMb < 200, 'RSS stays bounded (+200 MB ceiling)');
  t.equal(counted, refusedTotal, 'every refusal is counted in /metrics');
});
