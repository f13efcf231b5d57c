// A Redis that hangs with its sockets open (SIGSTOP for longer than SLUICE_REDIS_STALL_MS): the stalled pool
// connections are cut, their commands answered 502, slots freed, /readyz goes 503, and SIGCONT recovers.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { call, codeOf, keepAliveAgent } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  flags: { 'command-timeout-ms': 300, 'redis-stall-ms': 1000, 'redis-connect-timeout-ms': 500 },
});
t.teardown(() => broker.close());
const agent = keepAliveAgent(64);
t.teardown(() => agent.destroy());

async function readyz(): Promise<number> {
  return (await fetch(`${broker.adminUrl}/readyz`)).status;
}

t.test('stalled connections are cut and replaced; nothing stays held', async (t) => {
  t.equal((await call(broker.url, '/', ['set', 'k', '1'], { agent })).status, 200);
  redis.pause();
  t.teardown(() => redis.resume());
  const stuck = await Promise.all(
    Array.from({ length: 20 }, () => call(broker.url, '/', ['incr', 'n'], { agent })),
  );
  t.ok(
    stuck.every((r) => r.status === 504 && codeOf(r) === 'SLUICE_ERR_REDIS_TIMEOUT'),
    'written commands time out with 504',
  );
  t.ok(broker.admission.running > 0, 'their slots are still held while Redis may still answer');

  t.ok(
    await waitFor(async () => broker.admission.running === 0, 5000),
    'the watchdog cut the stalled connections: slots freed',
  );
  t.ok(await waitFor(async () => (await readyz()) === 503, 5000), '/readyz reports not ready');
  const refused = await call(broker.url, '/', ['get', 'k'], { agent });
  t.same([refused.status, codeOf(refused)], [503, 'SLUICE_ERR_REDIS_UNAVAILABLE'], 'new requests fail fast');

  redis.resume();
  t.ok(
    await waitFor(async () => (await call(broker.url, '/', ['get', 'k'], { agent })).status === 200, 8000),
    'recovers after SIGCONT',
  );
  t.equal(await readyz(), 200);
  const n = Number(await redis.client().get('n'));
  t.ok(n <= 20, `INCRs that timed out ran at most once each (${n})`);
});
