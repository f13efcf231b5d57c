// Read routing of a read-region broker: reads go to the local replica, writes to the primary, and one request never
// spans both (a pipeline with any write goes to the primary whole). Which server ran what is read from each
// server's own INFO commandstats.
import t, { type Test } from 'tap';
import { post, READONLY_TOKEN, startTestBroker } from './helpers/broker.js';
import { callsSince, commandCalls, readRegionFlags, type Regions, startRegions } from './helpers/regions.js';
import { waitFor } from './helpers/time.js';
import { Peer } from './helpers/ws.js';

// A short delay on the replication link: these tests are about where commands run, not about lag.
const regions: Regions = await startRegions(t.teardown, { delay: { minMs: 5, maxMs: 10 } });
const { primary, replica, readBroker } = regions;
const url = readBroker.url;
const readOnly = { Authorization: `Bearer ${READONLY_TOKEN}` };

await primary.client().mset('r:a', 'A', 'r:b', 'B', 'r:c', 'C');
// Tokenless reads go to the replica once the broker has seen it in sync (its watcher's first rounds).
await waitFor(
  async () => {
    const before = await commandCalls(replica.client());
    const reply = await post(url, '/', ['get', 'r:a'], readOnly);
    return reply.body !== undefined && (await callsSince(replica.client(), before, 'get')) === 1;
  },
  15000,
  { what: 'a tokenless GET through the read region to be served by the replica', everyMs: 100 },
);

/** Commands of these tests that never reach a replica by replication. */
const READS = new Set(['get', 'mget', 'strlen', 'eval_ro', 'evalsha_ro']);

/** Runs `send`, then says how many calls of `names` each server saw meanwhile. */
async function where(
  send: () => Promise<unknown>,
  ...names: string[]
): Promise<{ primary: number; replica: number }> {
  const p = await commandCalls(primary.client());
  const r = await commandCalls(replica.client());
  await send();
  // the replica also runs the primary's writes, from the replication stream: only reads count there
  const reads = names.filter((name) => READS.has(name));
  return {
    primary: await callsSince(primary.client(), p, ...names),
    replica: await callsSince(replica.client(), r, ...reads),
  };
}

t.test('REST reads without a token go to the replica', async (t) => {
  const counts = await where(async () => {
    for (let i = 0; i < 40; i++) {
      const reply = await post(url, '/', ['get', 'r:b'], readOnly);
      t.same(reply.body, { result: 'B' });
    }
  }, 'get');
  t.same(counts, { primary: 0, replica: 40 }, '40 GETs: all on the replica');
});

t.test(
  'a read-only pipeline goes to the replica; one write sends the whole pipeline to the primary',
  async (t) => {
    const reads = await where(
      () =>
        post(
          url,
          '/pipeline',
          [
            ['get', 'r:a'],
            ['mget', 'r:b', 'r:c'],
            ['strlen', 'r:a'],
          ],
          readOnly,
        ),
      'get',
      'mget',
      'strlen',
    );
    t.same(reads, { primary: 0, replica: 3 }, 'GET, MGET, STRLEN on the replica');

    const mixed = await where(
      async () => {
        const reply = await post(url, '/pipeline', [
          ['get', 'r:a'],
          ['set', 'r:w', '1'],
          ['get', 'r:w'],
        ]);
        t.same(
          reply.body,
          [{ result: 'A' }, { result: 'OK' }, { result: '1' }],
          'the read after the write sees it',
        );
      },
      'get',
      'set',
    );
    t.same(mixed, { primary: 3, replica: 0 }, 'GET, SET, GET all on the primary');
  },
);

t.test('writes, transactions and scripts go to the primary', async (t) => {
  const writes = await where(
    async () => {
      t.same((await post(url, '/', ['incr', 'r:n'])).body, { result: 1 });
      t.same((await post(url, '/', ['set', 'r:s', 'x'])).body, { result: 'OK' });
    },
    'incr',
    'set',
  );
  t.equal(writes.primary, 2, 'INCR and SET ran on the primary');
  // the replica may apply them from the replication stream; it never gets them from the broker (it is read-only)

  const multi = await where(
    async () => {
      const reply = await post(url, '/multi-exec', [
        ['get', 'r:a'],
        ['get', 'r:b'],
      ]);
      t.same(reply.body, [{ result: 'A' }, { result: 'B' }]);
    },
    'get',
    'exec',
  );
  t.same(multi, { primary: 3, replica: 0 }, 'a read-only /multi-exec still runs on the primary');

  const script = await where(
    async () => {
      const reply = await post(url, '/', ['eval', "return redis.call('GET', KEYS[1])", '1', 'r:a']);
      t.same(reply.body, { result: 'A' });
    },
    'eval',
    'evalsha',
    'get',
  );
  t.ok(script.primary >= 2, `EVAL (may write) ran on the primary (${script.primary} calls)`);
  t.equal(script.replica, 0, 'nothing of it on the replica');

  const readOnlyScript = await where(
    async () => {
      // the admin token: scripts of restricted tokens run as a per-token ACL user, which exists on the primary only
      const reply = await post(url, '/', ['eval_ro', "return redis.call('GET', KEYS[1])", '1', 'r:a']);
      t.same(reply.body, { result: 'A' });
    },
    'eval_ro',
    'evalsha_ro',
  );
  t.same(readOnlyScript, { primary: 0, replica: 1 }, 'EVAL_RO (flagged readonly) runs on the replica');
});

t.test('WebSocket requests follow the same rule, request by request', async (t) => {
  const peer = await Peer.open(url, { token: READONLY_TOKEN });
  t.teardown(() => peer.close());
  const reads = await where(async () => {
    for (let i = 0; i < 20; i++)
      t.same(await peer.request({ cmd: ['GET', 'r:c'] }), { id: i + 1, result: 'C' });
    const reply = await peer.request({
      pipeline: [
        ['GET', 'r:a'],
        ['GET', 'r:b'],
      ],
    });
    t.same(reply['results'], [{ result: 'A' }, { result: 'B' }]);
  }, 'get');
  t.same(reads, { primary: 0, replica: 22 }, 'WS reads on the replica');

  const admin = await Peer.open(url);
  t.teardown(() => admin.close());
  const mixed = await where(
    async () => {
      const reply = await admin.request({
        pipeline: [
          ['SET', 'r:ws', 'v'],
          ['GET', 'r:ws'],
        ],
      });
      t.same(reply['results'], [{ result: 'OK' }, { result: 'v' }]);
    },
    'get',
    'set',
  );
  t.same(mixed, { primary: 2, replica: 0 }, 'a WS pipeline with a write runs on the primary whole');
});

t.test('the primary-region broker (no replica) serves everything from the primary', async (t) => {
  const counts = await where(async () => {
    const reply = await post(regions.primaryBroker.url, '/', ['get', 'r:a'], readOnly);
    t.same(reply.body, { result: 'A' });
  }, 'get');
  t.same(counts, { primary: 1, replica: 0 });
});

/** A broker of the read region whose Redis users (on primary and replica) may not run the commands named. */
async function limitedBroker(t: Test, denyOnPrimary: string[], denyOnReplica: string[], logLines: string[]) {
  for (const [server, deny] of [
    [primary, denyOnPrimary],
    [replica, denyOnReplica],
  ] as const) {
    const user = `limited-${deny.join('-') || 'none'}`;
    await server
      .client()
      .call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all', ...deny.map((c) => `-${c}`));
  }
  const userOf = (deny: string[]) => `limited-${deny.join('-') || 'none'}:pw`;
  const broker = await startTestBroker(`redis://${userOf(denyOnPrimary)}@127.0.0.1:${primary.port}`, {
    logLines,
    flags: readRegionFlags(`redis://${userOf(denyOnReplica)}@127.0.0.1:${replica.port}`),
  });
  t.teardown(() => broker.close());
  return broker;
}

/** 20 rounds of SET then GET carrying the SET's token; returns the reads that missed their write. */
async function writeThenRead(brokerUrl: string, key: string): Promise<string[]> {
  const wrong: string[] = [];
  for (let i = 0; i < 20; i++) {
    const set = await post(brokerUrl, '/', ['set', key, String(i)]);
    if (set.status !== 200) wrong.push(`SET ${i}: ${set.text}`);
    const token = set.headers.get('upstash-sync-token') ?? '';
    const get = await post(brokerUrl, '/', ['get', key], { 'upstash-sync-token': token });
    if ((get.body as { result?: unknown })?.result !== String(i)) wrong.push(`GET ${i}: ${get.text}`);
  }
  return wrong;
}

t.test('a replica user without INFO: start-up says so, reads with a token go to the primary', async (t) => {
  const lines: string[] = [];
  const broker = await limitedBroker(t, [], ['info'], lines);
  t.match(lines.join(''), /"event":"replica_state_unavailable"/, 'the start-up log says so');
  const counts = await where(async () => t.same(await writeThenRead(broker.url, 'acl:r'), []), 'get');
  t.same(counts, { primary: 20, replica: 0 }, 'the 20 reads with a token were served by the primary');
  const tokenless = await where(() => post(broker.url, '/', ['get', 'acl:r'], readOnly), 'get');
  t.same(tokenless, { primary: 0, replica: 1 }, 'a read without one by the replica');
});

t.test(
  'a primary user without ROLE and INFO: start-up says so, writes work, reads still see them',
  async (t) => {
    const lines: string[] = [];
    const broker = await limitedBroker(t, ['role', 'info'], [], lines);
    t.match(lines.join(''), /"event":"sync_positions_unavailable"/, 'the start-up log says so');
    t.same(await writeThenRead(broker.url, 'acl:p'), [], 'every read after its write saw it');
  },
);
