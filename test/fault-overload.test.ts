// Overload: 10x more concurrent requests than pool slots + queue while Redis is stalled; the excess is refused at once.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { type CallResult, call, codeOf, keepAliveAgent, median, sleep, tally } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { NO_TELEMETRY, type RefusalReason, type Telemetry } from '../broker/telemetry.js';

const MAX_INFLIGHT = 10;
const QUEUE_MAX = 20;
const CAPACITY = MAX_INFLIGHT + QUEUE_MAX;
const REQUESTS = CAPACITY * 10;

const refusals: Partial<Record<RefusalReason, number>> = {};
const telemetry: Telemetry = {
  ...NO_TELEMETRY,
  refused(reason) {
    refusals[reason] = (refusals[reason] ?? 0) + 1;
  },
};

const redis = await startRedis(['--enable-debug-command', 'yes']);
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  telemetry,
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

t.test('10x capacity while Redis is stalled: excess refused at once, accepted complete', async (t) => {
  // Warm the connections so the burst measures the broker, not TCP set-up.
  await Promise.all(Array.from({ length: REQUESTS }, () => call(broker.url, '/', ['ping'], { agent })));
  const rssBefore = process.memoryUsage().rss;
  const value = 'x'.repeat(10_000);

  for (let round = 0; round < 3; round++) {
    // DEBUG SLEEP stalls Redis itself, so written commands wait and the pool backs up.
    const direct = redis.client().duplicate();
    direct.on('error', () => {});
    t.teardown(() => direct.disconnect());
    const stall = direct.call('DEBUG', 'SLEEP', '1.5');
    await sleep(50);
    const burst = Array.from({ length: REQUESTS }, (_, i) =>
      call(broker.url, '/', ['set', `over:${round}:${i}`, value], { agent, hangMs: 20_000 }),
    );
    const results: CallResult[] = await Promise.all(burst);
    await stall;
    direct.disconnect();

    const full = results.filter((r) => codeOf(r) === 'SLUICE_ERR_QUEUE_FULL');
    const ok = results.filter((r) => r.status === 200);
    t.comment(
      `round ${round}: ${JSON.stringify(tally(results))}; QUEUE_FULL median ${median(full.map((r) => r.ms)).toFixed(1)} ms, ` +
        `accepted median ${median(ok.map((r) => r.ms)).toFixed(0)} ms`,
    );
    t.equal(
      ok.length + full.length,
      REQUESTS,
      'every request was either accepted and completed, or refused as full',
    );
    t.ok(ok.length >= CAPACITY, `at least the ${CAPACITY} that fit completed`);
    t.ok(
      full.every((r) => r.status === 503 && r.headers['retry-after'] !== undefined),
      'refusals are 503 with Retry-After',
    );
    // Refused at once: long before Redis wakes from its 1.5 s sleep.
    t.ok(median(full.map((r) => r.ms)) < 1000, 'refusals come at once, not after the stall');
    const okKeys = results.flatMap((r, i) => (r.status === 200 ? [`over:${round}:${i}`] : []));
    const stored = await redis.client().exists(...okKeys);
    t.equal(stored, ok.length, 'every accepted SET is stored');
  }

  t.equal(broker.admission.waiting, 0, 'the queue is empty again');
  const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  t.comment(`RSS growth ${rssGrowthMb.toFixed(1)} MB; refusals counted ${JSON.stringify(refusals)}`);
  t.ok(rssGrowthMb < 200, 'RSS stays bounded (+200 MB ceiling)');
  t.ok((refusals.queue_full ?? 0) > 0, 'refusals are counted in telemetry');
});
