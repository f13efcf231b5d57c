// SIGTERM during load against the real built broker process: in-flight work completes, then it exits 0.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { WebSocket } from 'ws';
import { spawnBuiltBroker, TOKEN } from './helpers/broker.js';
import { type CallResult, call, codeOf, keepAliveAgent, tally } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const DRAIN_TIMEOUT_MS = 5000;
const CLIENTS = 50;

execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
const redis = await startRedis(['--enable-debug-command', 'yes']);
t.teardown(() => redis.stop());

const { child, url, adminUrl, exited } = await spawnBuiltBroker(redis.url, [
  ...['--drain-timeout-ms', String(DRAIN_TIMEOUT_MS), '--log-level', 'warn'],
]);
t.teardown(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
const agent = keepAliveAgent(CLIENTS + 8);
t.teardown(() => agent.destroy());

t.test('SIGTERM under load: in-flight complete, /readyz 503, new connections refused, exit 0', async (t) => {
  const results: (CallResult & { key: string })[] = [];
  let running = true;
  const worker = async (id: number) => {
    for (let i = 0; running; i++) {
      const key = `drain:${id}:${i}`;
      const r = await call(url, '/', ['set', key, `v${i}`], { agent, hangMs: 15_000 });
      results.push({ ...r, key });
      if (r.status !== 200) return; // Draining or gone: this client stops, as one behind a balancer would.
    }
  };
  const workers = Array.from({ length: CLIENTS }, (_, id) => worker(id));
  await sleep(1000);
  t.equal((await fetch(`${adminUrl}/readyz`)).status, 200, 'ready under load');

  // A WebSocket client (when this build has /ws) must be closed with 1001 by the drain.
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  const wsClosed = new Promise<number | undefined>((resolve) => {
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      resolve(undefined);
    });
    ws.once('error', () => resolve(undefined));
    ws.once('close', (code) => resolve(code));
  });
  const wsOpen = await Promise.race([
    new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))),
    wsClosed.then(() => false),
  ]);

  // Stall Redis so every client has a request in flight at the broker when SIGTERM arrives.
  const direct = redis.client().duplicate();
  direct.on('error', () => {});
  t.teardown(() => direct.disconnect());
  await direct.ping();
  const stall = direct.call('DEBUG', 'SLEEP', '1.5');
  await sleep(300);
  const termAt = performance.now();
  child.kill('SIGTERM');
  // The child handles the signal when the (loaded) machine schedules it: poll until /readyz turns.
  let drainingSeen: number | undefined;
  while (drainingSeen === undefined && performance.now() - termAt < 1000) {
    const status = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 503) drainingSeen = performance.now();
    else await sleep(10);
  }
  t.ok(drainingSeen !== undefined, '/readyz says 503 while draining (before the process exits)');
  t.comment(`/readyz 503 after ${((drainingSeen ?? Number.NaN) - termAt).toFixed(0)} ms`);
  const fresh = await call(url, '/', ['ping'], { hangMs: 3000 });
  t.equal(fresh.error, 'ECONNREFUSED', 'a new connection is refused');
  await stall;
  const [code, signal] = await exited;
  const exitMs = performance.now() - termAt;
  running = false;
  await Promise.all(workers);

  t.comment(
    `results ${JSON.stringify(tally(results))}; exit ${code} ${signal ?? ''} after ${exitMs.toFixed(0)} ms`,
  );
  t.equal(code, 0, 'exit code 0');
  t.ok(exitMs < DRAIN_TIMEOUT_MS + 2000, 'exited within the drain deadline');
  const inflight = results.filter((r) => r.started < termAt && r.started + r.ms > termAt);
  t.ok(inflight.length >= CLIENTS * 0.9, `requests were in flight at SIGTERM (${inflight.length})`);
  t.same(tally(inflight), { '200': inflight.length }, 'every in-flight request completed with 200');
  t.ok(
    inflight.every((r) => r.headers.connection === 'close'),
    'in-flight responses said Connection: close, so clients do not reuse the connection',
  );
  const later = results.filter((r) => r.started >= (drainingSeen ?? termAt));
  t.comment(`after draining began: ${JSON.stringify(tally(later))}`);
  t.same(
    later.filter((r) => !(codeOf(r) === 'SLUICE_ERR_DRAINING' || r.error === 'ECONNREFUSED')),
    [],
    'requests after draining began got 503 DRAINING or a refused connection (nothing ran), never a reset or hang',
  );
  if (wsOpen) t.equal(await wsClosed, 1001, 'the WebSocket was closed with 1001 (going away)');
  else t.comment('no WebSocket transport on this build');
  const acknowledged = results.filter((r) => r.status === 200);
  const values = await redis.client().mget(...acknowledged.map((r) => r.key));
  const missing = acknowledged.filter((r, i) => values[i] !== `v${r.key.split(':')[2]}`);
  t.equal(missing.length, 0, `every acknowledged write (${acknowledged.length}) is in Redis`);
});
