// A whole broker on a ManualClock. Redis SIGSTOPped: a written command is answered 504 at SLUICE_COMMAND_TIMEOUT_MS
// to the millisecond, and a request waiting for a slot 503 at SLUICE_QUEUE_TIMEOUT_MS (fault-redis-hangs.test.ts
// covers the same in real time, under load). Redis killed: refused at once, no timer involved (fail fast).
import t from 'tap';
import { post, startTestBroker } from './helpers/broker.js';
import { ManualClock } from './helpers/manual-clock.js';
import { startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';

const COMMAND_TIMEOUT_MS = 5000;
const QUEUE_TIMEOUT_MS = 2000;

const redis = await startRedis();
t.teardown(() => redis.stop());
t.teardown(() => redis.resume());
const clock = new ManualClock();
const broker = await startTestBroker(redis.url, {
  clock,
  flags: {
    'command-timeout-ms': COMMAND_TIMEOUT_MS,
    'queue-timeout-ms': QUEUE_TIMEOUT_MS,
    'max-inflight': 1,
    'pool-size': 1,
  },
});
t.teardown(() => broker.close());

t.test(
  'Redis stopped: 504 exactly at the command timeout, 503 for the waiter at the queue timeout',
  async (t) => {
    t.equal((await post(broker.url, '/', ['set', 'k', 'v'])).status, 200, 'Redis answers first');
    redis.pause();
    const answers: { status: number; code?: string }[] = [];
    const record = (r: { status: number; body: unknown }) =>
      answers.push({ status: r.status, code: (r.body as { code?: string } | undefined)?.code });
    const written = post(broker.url, '/', ['get', 'k']).then(record);
    t.ok(await waitFor(() => broker.admission.running === 1), 'the first request holds the only slot');
    const waiting = post(broker.url, '/', ['get', 'k']).then(record);
    t.ok(await waitFor(() => broker.admission.waiting === 1), 'the second waits for it');

    clock.advance(QUEUE_TIMEOUT_MS - 1);
    await sleep(50);
    t.same(answers, [], 'nothing answered 1 ms before the queue timeout');
    clock.advance(1);
    await waiting;
    t.same(answers, [{ status: 503, code: 'SLUICE_ERR_QUEUE_TIMEOUT' }], 'the waiter at the queue timeout');

    // The written command's timer fires GROUP_SPAN_MS (1 ms) after its timeout (settle.ts): never early.
    clock.advance(COMMAND_TIMEOUT_MS - QUEUE_TIMEOUT_MS);
    await sleep(50);
    t.equal(answers.length, 1, 'the written command is not answered at its timeout exactly');
    clock.advance(1);
    await written;
    t.same(answers[1], { status: 504, code: 'SLUICE_ERR_REDIS_TIMEOUT' }, 'but 1 ms later, with 504');
    redis.resume();
    t.ok(
      await waitFor(() => broker.admission.running === 0),
      'the slot is freed once Redis answers after all',
    );
  },
);

t.test(
  'Redis killed: refused with 503 REDIS_UNAVAILABLE while the clock stands still (fail fast)',
  async (t) => {
    await redis.kill();
    t.ok(await waitFor(() => broker.pool.stats().ready === 0), 'the pool saw Redis go');
    // The clock is not advanced: an answer that needed any of the broker's timers would never come.
    const refused = await Promise.race([
      post(broker.url, '/', ['get', 'k']),
      sleep(5000).then(() => undefined),
    ]);
    t.ok(refused, 'answered while the clock stood still');
    t.equal(refused?.status, 503);
    t.match(refused?.body, { code: 'SLUICE_ERR_REDIS_UNAVAILABLE' });
    await redis.restart();
    t.ok(
      await waitFor(async () => (await post(broker.url, '/', ['get', 'k'])).status === 200, 10_000),
      'back',
    );
  },
);
