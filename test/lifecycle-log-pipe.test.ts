// A broker whose stderr reader went away (its supervisor killed; stderr a pipe) drops its log lines and goes on, in a
// single process and in workers: before the fix each failed log write (EPIPE) reached the process guard, whose own log
// line failed the same way, and the process spun at ~100% CPU.
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { type BrokerProcess, post, spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { scrape, total } from './helpers/metrics.js';
import { startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;
/** The window over which CPU is measured, and the highest share of one core the broker may use in it. */
const WINDOW_MS = 1000;
const MAX_CPU_SHARE = 0.2;

/** The pid and its children (the workers of a primary). */
function processTree(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return [pid, ...(children === '' ? [] : children.split(/\s+/).map(Number))];
}

/** utime + stime of these processes, in seconds. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    // Fields after the command name (which may hold spaces), from field 3 (state): utime and stime are 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_S;
}

const redis = await startRedis();
t.teardown(() => redis.stop());

/** Drops every normal client's connection (the broker's pools): each drop makes the broker log redis_down / redis_up. */
const dropConnections = () => redis.client().client('KILL', 'TYPE', 'normal');

/** A broker from its entry point, one main-pool connection per process, logging at info; stopped in t.teardown. */
async function start(t: Test, workers: number): Promise<BrokerProcess> {
  const broker = await spawnBrokerProcess([
    '--port',
    '0',
    '--admin-port',
    '0',
    '--redis-url',
    redis.url,
    '--token',
    TOKEN,
    '--pool-size',
    '1',
    '--workers',
    String(workers),
    '--log-level',
    'info',
  ]);
  t.teardown(async () => {
    // SIGKILL, workers too, if SIGTERM is not enough: a spinning process (without the fix) never gets to its handler.
    const killer = setTimeout(() => {
      for (const pid of processTree(broker.child.pid!).reverse()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, 3000);
    await broker.stop();
    clearTimeout(killer);
  });
  return broker;
}

/**
 * Destroys the test's end of the broker's stderr, then makes every process log (a dropped Redis connection each, every
 * WINDOW_MS / 3): the CPU stays low, the broker still answers, and each process counted its lost stderr once.
 */
async function loseStderr(t: Test, broker: BrokerProcess, workers: number): Promise<void> {
  const pids = processTree(broker.child.pid!);
  t.equal(pids.length, workers === 1 ? 1 : 1 + workers, 'the primary and its workers');

  // The reader of the broker's stderr goes away: its next log write fails with EPIPE.
  broker.child.stderr!.destroy();
  await dropConnections();
  await sleep(200);

  const before = cpuSeconds(pids);
  const windowStart = performance.now();
  for (let i = 0; i < 3; i++) {
    await sleep(WINDOW_MS / 3);
    await dropConnections();
  }
  const share = (cpuSeconds(pids) - before) / ((performance.now() - windowStart) / 1000);
  t.ok(share < MAX_CPU_SHARE, `CPU while logging to a broken stderr: ${(share * 100).toFixed(0)}% of a core`);

  const answer = await waitFor(
    async () => {
      const reply = await post(broker.url, '/', ['ping']);
      return reply.status === 200 ? reply : undefined;
    },
    5000,
    { retryErrors: true },
  );
  t.same(answer === false ? 'no answer in 5 s' : answer.body, { result: 'PONG' }, 'it still answers');
  t.equal(broker.child.exitCode, null, 'it is still running');
  if (answer === false) return; // nor would it answer a scrape
  const samples = await scrape(broker.adminUrl);
  t.equal(
    total(samples, 'sluice_process_guard_total', { kind: 'output_lost' }),
    workers,
    'each process that lost its stderr counted it once',
  );
  t.equal(
    total(samples, 'sluice_process_guard_total', { kind: 'uncaught_exception' }),
    0,
    'no error reached the process guard',
  );
}

t.test("a single process: stderr's reader gone, log lines are dropped and the CPU stays idle", async (t) => {
  const broker = await start(t, 1);
  await loseStderr(t, broker, 1);
});

t.test(
  'workers: the start line and the log lines to readers gone are dropped, in the primary and workers',
  async (t) => {
    const broker = await start(t, 2);
    // stdout first, while stderr still shows what reaches the guard. The primary writes its start line again once a
    // replacement worker is ready: to a stdout with no reader.
    broker.child.stdout!.destroy();
    const [, worker] = processTree(broker.child.pid!);
    process.kill(worker!, 'SIGKILL');
    await waitFor(() => broker.stderr().includes('"event":"worker_exit"'), 5000, {
      what: 'the worker_exit line',
    });
    await waitFor(async () => (await fetch(`${broker.adminUrl}/readyz`)).status === 200, 30000, {
      what: 'the replacement worker',
      retryErrors: true,
    });
    await sleep(200);
    t.notMatch(
      broker.stderr(),
      /uncaught_socket_error|uncaught_exception/,
      'the lost stdout reached no guard',
    );

    await loseStderr(t, broker, 2);
  },
);
