// Sync tokens a read region cannot use: forged, truncated, signed by another deployment, or issued before a failover.
// None may make a read wait (SLUICE_SYNC_WAIT_MS is long here, so a read that waited shows), none may fail the
// request, and none may give a stale answer where the token is good.
import t from 'tap';
import { startTestBroker, post, READONLY_TOKEN, TOKEN } from './helpers/broker.js';
import {
  promoteReplica,
  type Regions,
  replicaCaughtUp,
  replication,
  startRegions,
} from './helpers/regions.js';
import { sleep, waitFor } from './helpers/time.js';

t.setTimeout(180000);

const SYNC_WAIT_MS = 3000;
/** Well under SYNC_WAIT_MS, well over any read on a loaded machine: a read answered later than this waited. */
const NO_WAIT_MS = 2000;
const SYNC = 'upstash-sync-token';

const regions: Regions = await startRegions(t.teardown, {
  readFlags: { 'sync-wait-ms': SYNC_WAIT_MS },
});
const { primary, replica, readBroker } = regions;

/** A timed GET through the read region with `token` as its sync token (auth: `auth`). */
async function timedGet(
  key: string,
  syncToken: string | undefined,
  auth = TOKEN,
): Promise<{ ms: number; status: number; result: unknown; token: string | null }> {
  const headers: Record<string, string> = { Authorization: `Bearer ${auth}` };
  if (syncToken !== undefined) headers[SYNC] = syncToken;
  const started = performance.now();
  const reply = await post(readBroker.url, '/', ['get', key], headers);
  return {
    ms: performance.now() - started,
    status: reply.status,
    result: (reply.body as { result?: unknown } | undefined)?.result,
    token: reply.headers.get(SYNC),
  };
}

/** Writes through the read region and returns the token of the write's response. */
async function write(key: string, value: string): Promise<string> {
  const reply = await post(readBroker.url, '/', ['set', key, value]);
  t.equal(reply.status, 200, `SET ${key} ${value}`);
  return reply.headers.get(SYNC) ?? '';
}

/** `token` with one character changed at `at` (a digit becomes another digit, anything else becomes `A` or `B`). */
function flip(token: string, at: number): string {
  const c = token[at]!;
  const to = /\d/.test(c) ? String((Number(c) + 1) % 10) : c === 'A' ? 'B' : 'A';
  return token.slice(0, at) + to + token.slice(at + 1);
}

/** `token` (`s1.<replid>.<offset>.<mac>.<nonce>`) claiming a far-future offset under the same MAC. */
function farFuture(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 5) throw new Error(`not a position token: ${token}`);
  parts[2] = '9'.repeat(15);
  return parts.join('.');
}

t.test('tokens that do not verify are ignored: no wait, no error', async (t) => {
  const good = await write('forge', 'v1');
  t.ok(good.length > 8, `a real token: ${good}`);
  const forged: [string, string][] = [
    ['random hex', 'deadbeef'.repeat(8)],
    ['last character changed', flip(good, good.length - 1)],
    ['middle character changed', flip(good, good.length >> 1)],
    ['far-future offset', farFuture(good)],
    ['truncated to half', good.slice(0, good.length >> 1)],
    ['one character short', good.slice(0, -1)],
    ['one character more', `${good}0`],
    ['garbage', '%%%::..//'],
    ['4 KB of it', 'x'.repeat(4096)],
    ['empty', ''],
  ];
  for (const [what, token] of forged) {
    // READONLY_TOKEN never wrote here, so no high-water mark of its own applies: the read is a tokenless one
    const read = await timedGet('forge', token, READONLY_TOKEN);
    t.equal(read.status, 200, `${what}: answered`);
    t.ok(read.result === 'v1' || read.result === null, `${what}: the value or (replica behind) none yet`);
    t.ok(read.ms < NO_WAIT_MS, `${what}: answered in ${read.ms.toFixed(0)} ms, without waiting`);
    t.ok(read.token, `${what}: the response still carries a token`);
  }
  // the auth token that wrote is floored by its own newest write (SLUICE_SYNC_PER_TOKEN_FLOOR), whatever it sends
  for (const [what, token] of forged) {
    const read = await timedGet('forge', token);
    t.equal(read.result, 'v1', `${what}, from the writer: its write`);
    t.ok(read.ms < SYNC_WAIT_MS + 5000, `${what}, from the writer: answered in ${read.ms.toFixed(0)} ms`);
  }
  // the good token still works afterwards, and gives the write
  await write('forge', 'v2');
  const real = await write('forge', 'v3');
  const read = await timedGet('forge', real, READONLY_TOKEN);
  t.equal(read.result, 'v3', 'a real token copied to another auth token reads the write');
});

t.test("another deployment's token is ignored, not waited on", async (t) => {
  const other = await startTestBroker(primary.url, { flags: { 'sync-secret': 'another-deployment' } });
  t.teardown(() => other.close());
  const reply = await post(other.url, '/', ['set', 'other', 'x']);
  const foreign = reply.headers.get(SYNC) ?? '';
  t.ok(foreign, 'the other deployment issued a token');
  const read = await timedGet('other', foreign, READONLY_TOKEN);
  t.equal(read.status, 200);
  t.ok(read.result === 'x' || read.result === null, 'the value or (replica behind) none yet');
  t.ok(read.ms < NO_WAIT_MS, `answered in ${read.ms.toFixed(0)} ms, without waiting`);
});

t.test(
  'a token the replica cannot reach waits at most SLUICE_SYNC_WAIT_MS, then reads the primary',
  async (t) => {
    // the replication link is cut: the replica stays behind, in the same replication history
    await replicaCaughtUp(regions);
    regions.relay.cut(); // for the rest of the file
    await waitFor(async () => (await replication(replica.client())).master_link_status === 'down', 10000, {
      what: 'the link to go down',
    });
    const token = await write('cut', 'after-cut');
    const reads = await Promise.all(Array.from({ length: 10 }, () => timedGet('cut', token)));
    for (const read of reads) {
      t.equal(read.result, 'after-cut', 'never the stale value');
      t.ok(read.ms < SYNC_WAIT_MS + 5000, `answered in ${read.ms.toFixed(0)} ms (wait ${SYNC_WAIT_MS} ms)`);
    }
  },
);

t.test('after a failover (the replica promoted) old tokens read the primary without waiting', async (t) => {
  regions.relay.cut(); // (already cut by the test before) the write below never reaches the replica
  const before = await write('failover', 'last-before');
  await promoteReplica(replica);
  const info = await replication(replica.client());
  t.not(info.master_replid2, '0000000000000000000000000000000000000000', 'the old history is its replid2');
  await sleep(500); // the broker's watcher sees the new replication ID
  for (let i = 0; i < 5; i++) {
    const read = await timedGet('failover', before);
    t.equal(read.result, 'last-before', 'never the value the promoted replica has');
    t.ok(read.ms < NO_WAIT_MS, `answered in ${read.ms.toFixed(0)} ms: unsatisfiable, so not parked`);
  }
  // writes keep going to the primary; their tokens cannot be met by the promoted replica either
  const after = await write('failover', 'after');
  const read = await timedGet('failover', after);
  t.equal(read.result, 'after');
  t.ok(read.ms < NO_WAIT_MS, `answered in ${read.ms.toFixed(0)} ms`);
  // a tokenless read no longer trusts a replica that left the primary (within the max-lag rule's time)
  await primary.client().set('failover', 'direct');
  const fresh = await waitFor(
    async () => (await timedGet('failover', undefined, READONLY_TOKEN)).result === 'direct',
    10000,
  );
  t.ok(fresh, 'tokenless reads go to the primary once the replica is no longer its replica');
});
