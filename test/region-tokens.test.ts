// Sync tokens a read region cannot use: forged, truncated, signed by another deployment, or issued before a failover.
// None may make a read wait (SLUICE_SYNC_WAIT_MS is long here, so a read that waited shows), none may fail the
// request, and none may give a stale answer where the token is good.
import t, { type Test } from 'tap';
import { startTestBroker, post, READONLY_TOKEN, TOKEN } from './helpers/broker.js';
import {
  promoteReplica,
  type Regions,
  replicaCaughtUp,
  replication,
  startRegions,
} from './helpers/regions.js';
import { scrape, value } from './helpers/metrics.js';
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
async function write(t: Test, key: string, value: string): Promise<string> {
  const reply = await post(readBroker.url, '/', ['set', key, value]);
  t.equal(reply.status, 200, `SET ${key} ${value}`);
  return reply.headers.get(SYNC) ?? '';
}

/** `text` with its character at `at` replaced by another of the same kind (digit, lower hex, base64url). */
function flip(text: string, at: number): string {
  const c = text[at]!;
  const to = /\d/.test(c) ? String((Number(c) + 1) % 10) : c === 'a' ? 'b' : 'a';
  return text.slice(0, at) + to + text.slice(at + 1);
}

/** A real token (`s1.<replid>.<offset>.<mac>.<nonce>`) with part `index` rewritten by `change`. */
function rewrite(token: string, index: number, change: (part: string) => string): string {
  const parts = token.split('.');
  if (parts.length !== 5) throw new Error(`not a position token: ${token}`);
  parts[index] = change(parts[index]!);
  return parts.join('.');
}

/** The read-region broker's count of replica-eligible reads with this outcome. */
async function reads(outcome: string): Promise<number> {
  return value(await scrape(readBroker.adminUrl), 'sluice_replica_reads_total', { outcome });
}
const badTokens = () => reads('bad_token');

t.test('tokens that do not verify are ignored: no wait, no error, counted', async (t) => {
  const good = await write(t, 'forge', 'v1');
  t.match(good, /^s1\.[0-9a-f]{40}\.\d+\.[\w-]{22}\.[\w-]+$/, 'a real token carries a signed position');
  const forged: [string, string][] = [
    ['MAC changed', rewrite(good, 3, (mac) => flip(mac, 0))],
    ['replication ID changed', rewrite(good, 1, (id) => flip(id, 5))],
    ['far-future offset', rewrite(good, 2, () => '9'.repeat(15))],
    ['offset one higher', rewrite(good, 2, (offset) => String(Number(offset) + 1))],
    ['another version', rewrite(good, 0, () => 's2')],
    ['truncated to half', good.slice(0, good.length >> 1)],
    ['cut inside the MAC', good.split('.').slice(0, 3).join('.') + '.' + good.split('.')[3]!.slice(0, 11)],
    ['random hex', 'deadbeef'.repeat(8)],
    ['garbage', '%%%::..//'],
    ['4 KB of it', 'x'.repeat(4096)],
  ];
  const before = await badTokens();
  for (const [what, token] of forged) {
    // READONLY_TOKEN never wrote here, so no floor of its own applies: the read is a tokenless one
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
  t.equal((await badTokens()) - before, 2 * forged.length, 'each counted as bad_token');

  // not forgeries: the nonce is outside the MAC (it only makes tokens differ), and an empty token is no token
  const nonce = await timedGet(
    'forge',
    rewrite(good, 4, (n) => `${n}x`),
    READONLY_TOKEN,
  );
  t.equal(nonce.result, 'v1', 'another nonce: the same position, so the write');
  await timedGet('forge', '', READONLY_TOKEN);
  t.equal((await badTokens()) - before, 2 * forged.length, 'neither counted as bad');

  // the good token still works afterwards, and gives the write
  await write(t, 'forge', 'v2');
  const real = await write(t, 'forge', 'v3');
  const read = await timedGet('forge', real, READONLY_TOKEN);
  t.equal(read.result, 'v3', 'a real token copied to another auth token reads the write');
});

t.test("another deployment's token is ignored, not waited on", async (t) => {
  const other = await startTestBroker(primary.url, { flags: { 'sync-secret': 'another-deployment' } });
  t.teardown(() => other.close());
  const reply = await post(other.url, '/', ['set', 'other', 'x']);
  const foreign = reply.headers.get(SYNC) ?? '';
  t.ok(foreign, 'the other deployment issued a token');
  const before = await badTokens();
  const read = await timedGet('other', foreign, READONLY_TOKEN);
  t.equal((await badTokens()) - before, 1, 'counted as bad_token');
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
    const token = await write(t, 'cut', 'after-cut');
    const fallbacks = await reads('primary_fallback');
    const answers = await Promise.all(Array.from({ length: 10 }, () => timedGet('cut', token)));
    t.equal((await reads('primary_fallback')) - fallbacks, 10, 'counted as primary_fallback');
    for (const read of answers) {
      t.equal(read.result, 'after-cut', 'never the stale value');
      t.ok(read.ms < SYNC_WAIT_MS + 5000, `answered in ${read.ms.toFixed(0)} ms (wait ${SYNC_WAIT_MS} ms)`);
    }
  },
);

t.test('after a failover (the replica promoted) old tokens read the primary without waiting', async (t) => {
  regions.relay.cut(); // (already cut by the test before) the write below never reaches the replica
  const before = await write(t, 'failover', 'last-before');
  await promoteReplica(replica);
  const info = await replication(replica.client());
  t.not(info.master_replid2, '0000000000000000000000000000000000000000', 'the old history is its replid2');
  await sleep(500); // the broker's watcher sees the new replication ID
  const unsatisfiable = await reads('unsatisfiable');
  const fallbacks = await reads('primary_fallback');
  for (let i = 0; i < 5; i++) {
    const read = await timedGet('failover', before);
    t.equal(read.result, 'last-before', 'never the value the promoted replica has');
    t.ok(read.ms < NO_WAIT_MS, `answered in ${read.ms.toFixed(0)} ms: unsatisfiable, so not parked`);
  }
  // writes keep going to the primary; their tokens cannot be met by the promoted replica either
  const after = await write(t, 'failover', 'after');
  const read = await timedGet('failover', after);
  t.equal(read.result, 'after');
  t.ok(read.ms < NO_WAIT_MS, `answered in ${read.ms.toFixed(0)} ms`);
  const u = (await reads('unsatisfiable')) - unsatisfiable;
  const f = (await reads('primary_fallback')) - fallbacks;
  t.equal(u, 6, `the 6 reads counted as unsatisfiable (primary_fallback: ${f})`);
  // a tokenless read no longer trusts a replica that left the primary (within the max-lag rule's time)
  await primary.client().set('failover', 'direct');
  const fresh = await waitFor(
    async () => (await timedGet('failover', undefined, READONLY_TOKEN)).result === 'direct',
    10000,
  );
  t.ok(fresh, 'tokenless reads go to the primary once the replica is no longer its replica');
});
