// Waits are bounded: with the replica stopped (SIGSTOP), reads with a token are answered by the primary within
// SLUICE_SYNC_WAIT_MS and a margin; reads without one leave a replica that lags beyond SLUICE_REPLICA_MAX_LAG_MS
// (stopped, or its link slowed down) and come back once it catches up.
import t, { type Test } from 'tap';
import { post, READONLY_TOKEN, TOKEN } from './helpers/broker.js';
import {
  callsSince,
  commandCalls,
  continueReplica,
  type Regions,
  startRegions,
  stopReplica,
} from './helpers/regions.js';
import { sleep, waitFor } from './helpers/time.js';

t.setTimeout(180000);

const SYNC_WAIT_MS = 300;
const MAX_LAG_MS = 1000;
/** Margin on a loaded 2-core machine: the bound is what matters, not speed. */
const MARGIN_MS = 4000;
const SYNC = 'upstash-sync-token';

const regions: Regions = await startRegions(t.teardown, {
  delay: { minMs: 20, maxMs: 40 },
  readFlags: { 'sync-wait-ms': SYNC_WAIT_MS, 'replica-max-lag-ms': MAX_LAG_MS },
});
const { primary, replica, readBroker } = regions;

async function timedGet(key: string, headers: Record<string, string>) {
  const started = performance.now();
  const reply = await post(readBroker.url, '/', ['get', key], headers);
  return {
    ms: performance.now() - started,
    status: reply.status,
    result: (reply.body as { result?: unknown } | undefined)?.result,
  };
}
const tokenless = { Authorization: `Bearer ${READONLY_TOKEN}` };

/** Tokenless reads are served by the replica again (its GET count grows with a read). */
async function replicaServesAgain(what: string): Promise<void> {
  await waitFor(
    async () => {
      const before = await commandCalls(replica.client());
      await timedGet('w:k', tokenless);
      return (await callsSince(replica.client(), before, 'get')) === 1;
    },
    20000,
    { what, everyMs: 200 },
  );
}

await replicaServesAgain('tokenless reads to reach the replica at start');

t.test('replica stopped: token reads are answered by the primary within the wait bound', async (t) => {
  const first = await post(readBroker.url, '/', ['set', 'w:k', 'before-stop']);
  t.equal(first.status, 200);
  stopReplica(regions);
  t.teardown(() => continueReplica(regions));
  const write = await post(readBroker.url, '/', ['set', 'w:k', 'while-stopped']);
  const token = write.headers.get(SYNC) ?? '';
  // one at a time, then 30 parked together
  for (let i = 0; i < 3; i++) {
    const read = await timedGet('w:k', { Authorization: `Bearer ${TOKEN}`, [SYNC]: token });
    t.equal(read.result, 'while-stopped', 'the write, from the primary');
    t.ok(read.ms < SYNC_WAIT_MS + MARGIN_MS, `answered in ${read.ms.toFixed(0)} ms`);
  }
  const started = performance.now();
  const reads = await Promise.all(
    Array.from({ length: 30 }, () => timedGet('w:k', { Authorization: `Bearer ${TOKEN}`, [SYNC]: token })),
  );
  const elapsed = performance.now() - started;
  t.same(
    reads.map((r) => r.result),
    Array(30).fill('while-stopped'),
    '30 parked reads all got the write',
  );
  t.ok(elapsed < SYNC_WAIT_MS + MARGIN_MS, `30 parked reads answered within ${elapsed.toFixed(0)} ms`);
});

t.test('replica stopped: tokenless reads go to the primary once it lags beyond the max', async (t) => {
  stopReplica(regions);
  t.teardown(() => continueReplica(regions));
  await primary.client().set('w:k', 'stopped-again');
  // after MAX_LAG_MS the broker no longer trusts the replica for tokenless reads
  await sleep(MAX_LAG_MS + 500);
  const fresh = await waitFor(
    async () => (await timedGet('w:k', tokenless)).result === 'stopped-again',
    MARGIN_MS,
  );
  t.ok(fresh, 'a tokenless read is answered by the primary');
  for (let i = 0; i < 10; i++) {
    const read = await timedGet('w:k', tokenless);
    t.equal(read.result, 'stopped-again');
    t.ok(read.ms < MARGIN_MS, `answered in ${read.ms.toFixed(0)} ms`);
  }
  continueReplica(regions);
  await replicaServesAgain('tokenless reads to return to the replica after SIGCONT');
  t.pass('back on the replica after SIGCONT');
});

/**
 * A writer that SETs a counter on the primary directly (as another region's broker would) every ~50 ms, and the
 * bound a tokenless read must meet: it may be at most SLUICE_REPLICA_MAX_LAG_MS (and a poll's slack) old, so it sees
 * every write acknowledged before that.
 */
function startWriter(t: Test) {
  let writing = true;
  const acked: { at: number; n: number }[] = [];
  const done = (async () => {
    for (let n = 1; writing; n++) {
      await primary.client().set('w:counter', String(n));
      acked.push({ at: performance.now(), n });
      await sleep(50);
    }
  })();
  const stop = async () => {
    writing = false;
    await done;
  };
  t.teardown(stop);
  /** The newest write acknowledged `ms` before `at` (0 when none). */
  const floorAt = (at: number, ms: number) => acked.findLast((a) => a.at <= at - ms)?.n ?? 0;
  return { stop, floorAt };
}

/** Slack on the max-lag bound: the watcher measures the lag every MAX_LAG_MS / 4. */
const SLACK_MS = 500;

/** Tokenless reads of the counter, each checked against the max-lag bound; returns the ones older than it. */
async function tooOld(floorAt: (at: number, ms: number) => number, count: number): Promise<string[]> {
  const old: string[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const read = await timedGet('w:counter', tokenless);
    const floor = floorAt(started, MAX_LAG_MS + SLACK_MS);
    if (Number(read.result) < floor) old.push(`read ${String(read.result)}, written before it: ${floor}`);
  }
  return old;
}

t.test(
  'a slow link while tokenless reads keep coming: they leave the replica beyond the max lag',
  async (t) => {
    const writer = startWriter(t);
    let reading = true;
    const reader = (async () => {
      while (reading) {
        await timedGet('w:counter', tokenless);
        await sleep(50);
      }
    })();
    regions.relay.setDelay({ minMs: 2000, maxMs: 2100 }); // twice the max lag
    await sleep(MAX_LAG_MS + 2500);
    const before = await commandCalls(replica.client());
    reading = false;
    await reader;
    t.same(await tooOld(writer.floorAt, 10), [], 'no read older than the max lag');
    t.equal(await callsSince(replica.client(), before, 'get'), 0, 'no GET reached the replica');
    regions.relay.setDelay({ minMs: 20, maxMs: 40 });
    await writer.stop();
    await replicaServesAgain('tokenless reads to return to the replica once it caught up');
    t.pass('back on the replica once the link is fast again');
  },
);

t.test(
  'a slow link while no read came: the first tokenless reads are not older than the max lag',
  async (t) => {
    // The broker samples the primary's offset only while it has reads to route; writes made meanwhile (by other
    // regions, directly on the primary) must not make the replica look fresh when reads resume.
    const writer = startWriter(t);
    regions.relay.setDelay({ minMs: 2000, maxMs: 2100 });
    await sleep(MAX_LAG_MS + 2500);
    t.same(await tooOld(writer.floorAt, 10), [], 'no read older than the max lag');
    regions.relay.setDelay({ minMs: 20, maxMs: 40 });
    await writer.stop();
    await replicaServesAgain('tokenless reads to return to the replica once it caught up');
  },
);
