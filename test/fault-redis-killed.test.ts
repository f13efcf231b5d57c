// Redis SIGKILLed under load from 200 keep-alive clients: JSON errors, fast 503s while down, /readyz, recovery.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { type CallResult, call, codeOf, keepAliveAgent, median, quantile, tally } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const COMMAND_TIMEOUT_MS = 2000;
const CLIENTS = 200;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  flags: { 'command-timeout-ms': COMMAND_TIMEOUT_MS, 'pool-size': 4 },
});
t.teardown(() => broker.close());
const agent = keepAliveAgent(CLIENTS + 8);
t.teardown(() => agent.destroy());

const readyz = async () => (await fetch(`${broker.adminUrl}/readyz`)).status;

t.test('SIGKILL redis under load, then restart it on the same port', async (t) => {
  const results: CallResult[] = [];
  let running = true;
  const worker = async (id: number) => {
    for (let i = 0; running; i++) {
      const result = await call(broker.url, '/', ['set', `k:${id}:${i}`, 'v'], { agent, hangMs: 15_000 });
      results.push(result);
      // A client that got an error backs off (a fraction of Retry-After) instead of spinning.
      if (result.status !== 200) await sleep(200);
    }
  };
  // Open all 200 keep-alive connections first, so "in flight" below means in flight at the broker.
  for (let round = 0; round < 2; round++)
    await Promise.all(Array.from({ length: CLIENTS }, () => call(broker.url, '/', ['ping'], { agent })));
  const workers = Array.from({ length: CLIENTS }, (_, id) => worker(id));

  // The same probe while Redis is up, under the same load: the baseline its latency while down is judged against.
  const baseline: CallResult[] = [];
  const baselineStart = performance.now();
  while (performance.now() - baselineStart < 1000) {
    baseline.push(await call(broker.url, '/', ['set', 'probe', 'v'], { agent }));
    await sleep(20);
  }
  t.equal(await readyz(), 200, 'ready before the kill');
  const killedAt = performance.now();
  await redis.kill();
  // A probe client sending one request at a time while Redis is down: the fail-fast latency without queueing.
  await sleep(200);
  const probe: CallResult[] = [];
  while (performance.now() - killedAt < 1700) {
    probe.push(await call(broker.url, '/', ['set', 'probe', 'v'], { agent }));
    await sleep(20);
  }
  t.equal(await readyz(), 503, '/readyz says not ready while Redis is down');
  const restartAt = performance.now();
  await redis.restart();
  const upAt = performance.now();

  // Recovery: the first success of a request that started after Redis answered again.
  let recoveredAt: number | undefined;
  while (recoveredAt === undefined && performance.now() - upAt < 8000) {
    await sleep(20);
    const ok = results.find((r) => r.status === 200 && r.started >= upAt);
    if (ok) recoveredAt = ok.started + ok.ms;
  }
  await sleep(500);
  running = false;
  await Promise.all(workers);
  t.equal(await readyz(), 200, '/readyz ready again');

  t.comment(`results: ${JSON.stringify(tally(results))}`);
  t.ok(results.length > CLIENTS * 5, `${results.length} requests`);
  const hung = results.filter((r) => r.status === 0);
  t.same(tally(hung), {}, 'every request resolved with an HTTP response (no hang, no dropped connection)');
  const allowed = new Set([
    'SLUICE_ERR_REDIS_CONNECTION_LOST',
    'SLUICE_ERR_REDIS_UNAVAILABLE',
    'SLUICE_ERR_REDIS_TIMEOUT',
  ]);
  const odd = results.filter((r) => r.status !== 200 && !allowed.has(codeOf(r) ?? ''));
  t.same(tally(odd), {}, 'every failure is a JSON error with a Redis-fault code');

  const inflight = results.filter((r) => r.started < killedAt && r.started + r.ms > killedAt);
  const slowest = Math.max(0, ...inflight.map((r) => r.ms));
  t.comment(
    `in flight at the kill: ${inflight.length}, slowest ${slowest.toFixed(0)} ms (${JSON.stringify(tally(inflight))})`,
  );
  t.ok(
    slowest < COMMAND_TIMEOUT_MS + 1500,
    'requests in flight at the kill got an answer within the command timeout',
  );

  const down = results.filter((r) => r.started > killedAt + 200 && r.started + r.ms < restartAt);
  const downMs = down.map((r) => r.ms);
  t.comment(
    `while down: ${down.length} requests, median ${median(downMs).toFixed(1)} ms, p99 ${quantile(downMs, 0.99).toFixed(1)} ms`,
  );
  t.ok(down.length > 100, 'requests kept coming while Redis was down');
  t.same(tally(down), { [`503 SLUICE_ERR_REDIS_UNAVAILABLE`]: down.length }, 'all 503 REDIS_UNAVAILABLE');
  t.ok(
    down.every((r) => r.headers['retry-after'] !== undefined),
    'every 503 carries Retry-After',
  );
  t.ok(quantile(downMs, 0.99) < COMMAND_TIMEOUT_MS, 'no request waited for a timeout while Redis was down');
  const probeMs = probe.map((r) => r.ms);
  t.comment(
    `probe while down: ${probe.length} requests, median ${median(probeMs).toFixed(1)} ms, max ${Math.max(...probeMs).toFixed(1)} ms`,
  );
  t.same(
    tally(probe),
    { '503 SLUICE_ERR_REDIS_UNAVAILABLE': probe.length },
    'the probe got 503 REDIS_UNAVAILABLE',
  );
  // Failing fast means waiting for nothing: a refusal that waited for a reply deadline would take a whole command
  // timeout. Judged against the same probe while Redis was up, in this run (a busy machine slows both alike), with a
  // floor of a twentieth of the command timeout for the noise of millisecond figures; not a wall-clock bound.
  const upMs = median(baseline.map((r) => r.ms));
  const boundMs = Math.max(3 * upMs, COMMAND_TIMEOUT_MS / 20);
  t.ok(
    median(probeMs) < boundMs,
    `fail fast: probe median ${median(probeMs).toFixed(1)} ms while down, ${upMs.toFixed(1)} ms while up (bound ${boundMs.toFixed(0)} ms)`,
  );

  t.ok(recoveredAt !== undefined, 'requests succeed again');
  const recoveryMs = (recoveredAt ?? Number.POSITIVE_INFINITY) - upAt;
  t.comment(`recovered ${recoveryMs.toFixed(0)} ms after redis-server answered again`);
  t.ok(recoveryMs < 2500, `recovered within ~2 s (${recoveryMs.toFixed(0)} ms)`);
  const after = results.filter((r) => r.started > (recoveredAt ?? 0) + 200);
  t.ok(after.length > 0 && after.every((r) => r.status === 200), 'after recovery every request succeeds');
});

t.test(
  'after a long outage (reconnect backoff at its ceiling) requests succeed within ~2 s of Redis returning',
  async (t) => {
    await redis.kill();
    // Long enough for every connection's jittered backoff to reach its ceiling.
    await sleep(6000);
    t.equal(await readyz(), 503, 'not ready while down');
    await redis.restart();
    const upAt = performance.now();
    let recoveredMs: number | undefined;
    while (recoveredMs === undefined && performance.now() - upAt < 10_000) {
      const r = await call(broker.url, '/', ['ping'], { agent });
      if (r.status === 200) recoveredMs = performance.now() - upAt;
      else await sleep(20);
    }
    t.comment(`recovered ${recoveredMs?.toFixed(0)} ms after redis-server answered again (long outage)`);
    t.ok(recoveredMs !== undefined && recoveredMs < 2500, 'recovered within ~2 s');
    t.equal(await readyz(), 200, 'ready again');
  },
);
