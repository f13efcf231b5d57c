// Redis Cluster: three primaries made with redis-cli --cluster create; the official client, cross-slot pipelines,
// CROSSSLOT transactions, pub/sub, blocking commands per node, and a slot migrated during writes.
import { execFileSync } from 'node:child_process';
import { Redis as Upstash } from '@upstash/redis';
import { Redis } from 'ioredis';
import t from 'tap';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { openStream } from './helpers/sse.js';
import { Peer } from './helpers/ws.js';
import { baseArgs, freePort, type ServerProcess, spawnServer, tempDir } from './helpers/topology.js';
import { waitFor } from './helpers/time.js';

const dir = tempDir('sluice-cluster-');
t.teardown(() => dir.remove());
const ports = await Promise.all([freePort(), freePort(), freePort()]);
const servers: ServerProcess[] = [];
t.teardown(() => Promise.all(servers.map((s) => s.stop())));
for (const port of ports) {
  servers.push(
    await spawnServer(
      [
        ...baseArgs(port),
        '--dir',
        dir.path,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '5000',
      ],
      port,
    ),
  );
}
execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], {
  stdio: 'ignore',
  timeout: 30_000,
});
const nodes = ports.map((port) => {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  return client;
});
t.teardown(() => {
  for (const node of nodes) node.disconnect();
});
for (const node of nodes) {
  await waitFor(
    async () =>
      ((await node.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok') ? true : undefined,
    20_000,
    { what: 'cluster_state:ok', everyMs: 50, retryErrors: true },
  );
}

const broker = await startTestBroker('redis://unused.invalid:6379', {
  flags: { 'redis-cluster-nodes': `127.0.0.1:${ports[0]}` },
});
t.teardown(() => broker.close());

/** The node (index into `nodes`) that owns `key`'s slot. */
async function ownerOf(key: string): Promise<number> {
  const slot = Number(await nodes[0]!.call('CLUSTER', 'KEYSLOT', key));
  const shards = (await nodes[0]!.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const shard = shards.find(([from, to]) => slot >= from && slot <= to)!;
  return ports.indexOf(Number(shard[2][1]));
}

t.test('ready after discovering the cluster from one seed node', async (t) => {
  await waitFor(() => (broker.notReadyReason() === undefined ? true : undefined), 20_000, {
    what: 'the broker to be ready',
    everyMs: 50,
    retryErrors: true,
  });
  t.equal(broker.cluster?.nodes('master').length, 3);
});

t.test('@upstash/redis: keys on every node, auto-pipelined, JSON values', async (t) => {
  const client = new Upstash({ url: broker.url, token: TOKEN });
  const keys = Array.from({ length: 30 }, (_, i) => `user:${i}`);
  await Promise.all(keys.map((key, i) => client.set(key, { i })));
  const values = await Promise.all(keys.map((key) => client.get(key)));
  t.same(
    values,
    keys.map((_, i) => ({ i })),
  );
  const owners = new Set(await Promise.all(keys.map(ownerOf)));
  t.equal(owners.size, 3, 'the keys live on all three primaries');
  for (const node of nodes) t.ok(Number(await node.dbsize()) > 0, 'each primary holds some keys');
  t.same(await client.pipeline().incr('n:a').incr('n:b').incr('n:a').get('user:1').exec(), [
    1,
    1,
    2,
    { i: 1 },
  ]);
});

t.test('a cross-slot pipeline: results in order, per-item errors kept', async (t) => {
  const answer = await post(broker.url, '/pipeline', [
    ['set', 'p:a', 'x'],
    ['set', 'p:b', 'y'],
    ['incr', 'p:a'],
    ['mset', 'p:a', '1', 'p:b', '2'],
    ['get', 'p:b'],
    ['set', 'p:c', 'z'],
    ['get', 'p:a'],
  ]);
  t.equal(answer.status, 200);
  const items = answer.body as { result?: unknown; error?: string }[];
  t.equal(
    new Set(await Promise.all(['p:a', 'p:b', 'p:c'].map(ownerOf))).size > 1,
    true,
    'keys on several nodes',
  );
  t.same(items[0], { result: 'OK' });
  t.same(items[1], { result: 'OK' });
  t.match(items[2]?.error, /^ERR value is not an integer/);
  t.match(items[3]?.error, /^CROSSSLOT/, "a multi-key command across slots gets Redis's CROSSSLOT");
  t.same(items[4], { result: 'y' });
  t.same(items[5], { result: 'OK' });
  t.same(items[6], { result: 'x' });
});

t.test('multi-exec: one slot runs; across slots is a 400 CROSSSLOT', async (t) => {
  const same = await post(broker.url, '/multi-exec', [
    ['set', '{u1}:name', 'ann'],
    ['incr', '{u1}:visits'],
    ['get', '{u1}:name'],
  ]);
  t.equal(same.status, 200);
  t.same(same.body, [{ result: 'OK' }, { result: 1 }, { result: 'ann' }]);
  const cross = await post(broker.url, '/multi-exec', [
    ['set', 'x:1', 'a'],
    ['set', 'x:2', 'b'],
  ]);
  t.equal(new Set(await Promise.all(['x:1', 'x:2'].map(ownerOf))).size, 2);
  t.equal(cross.status, 400);
  t.equal((cross.body as { code: string }).code, 'SLUICE_ERR_REDIS');
  t.match((cross.body as { error: string }).error, /^CROSSSLOT/);
  t.equal(await nodes[await ownerOf('x:1')]!.exists('x:1'), 0, 'nothing ran');
});

t.test('WebSocket: commands, a cross-slot pipeline and a one-slot multi', async (t) => {
  const peer = await Peer.open(broker.url);
  t.teardown(() => peer.close());
  t.same(await peer.request({ id: 1, cmd: ['SET', 'ws:a', '1'] }), { id: 1, result: 'OK' });
  t.same(
    await peer.request({
      id: 2,
      pipeline: [
        ['INCR', 'ws:a'],
        ['SET', 'ws:b', 'x'],
        ['INCR', 'ws:b'],
        ['GET', 'ws:c'],
        ['INCR', 'ws:a'],
      ],
    }),
    {
      id: 2,
      results: [
        { result: 2 },
        { result: 'OK' },
        { error: 'ERR value is not an integer or out of range', code: 'SLUICE_ERR_REDIS' },
        { result: null },
        { result: 3 },
      ],
    },
  );
  t.equal(new Set(await Promise.all(['ws:a', 'ws:b', 'ws:c'].map(ownerOf))).size > 1, true);
  t.same(
    await peer.request({
      id: 3,
      multi: [
        ['SET', '{ws}:x', '1'],
        ['INCR', '{ws}:x'],
      ],
    }),
    { id: 3, results: [{ result: 'OK' }, { result: 2 }] },
  );
  const cross = (await peer.request({
    id: 4,
    multi: [
      ['SET', 'ws:a', '1'],
      ['SET', 'ws:b', '1'],
    ],
  })) as { code?: string; error?: string };
  t.equal(cross.code, 'SLUICE_ERR_REDIS');
  t.match(cross.error, /^CROSSSLOT/);
});

t.test("blocking commands run on their slot primary's own blocking pool", async (t) => {
  // Queues on different primaries, each served while blocked.
  const queues = ['q:1', 'q:2', 'q:3', 'q:4', 'q:5', 'q:6'];
  const byNode = new Map<number, string>();
  for (const queue of queues) byNode.set(await ownerOf(queue), queue);
  t.ok(byNode.size >= 2, 'queues on at least two primaries');
  const waits = [...byNode.values()].map((queue) => post(broker.url, '/', ['blpop', queue, '5']));
  await waitFor(
    async () => {
      const blocked = await Promise.all(
        nodes.map(async (node) => ((await node.client('LIST')) as string).includes('cmd=blpop')),
      );
      return blocked.filter(Boolean).length === byNode.size ? true : undefined;
    },
    20_000,
    { what: 'every BLPOP to block', everyMs: 50, retryErrors: true },
  );
  for (const [node, queue] of byNode) await nodes[node]!.rpush(queue, `item-${queue}`);
  const answers = await Promise.all(waits);
  t.same(
    answers.map((a) => a.body),
    [...byNode.values()].map((queue) => ({ result: [queue, `item-${queue}`] })),
  );
  t.same(
    (await post(broker.url, '/', ['blpop', 'q:empty', '0.1'])).body,
    { result: null },
    'a timeout is nil',
  );
  const inPipeline = await post(broker.url, '/pipeline', [
    ['blpop', 'q:1', '1'],
    ['get', 'x'],
  ]);
  t.equal(
    (inPipeline.body as { code: string }[])[0]?.code,
    'SLUICE_ERR_COMMAND_REFUSED',
    'not inside a pipeline',
  );
});

t.test('metrics: connections labelled by primary node', async (t) => {
  const text = await (await fetch(`${broker.adminUrl}/metrics`)).text();
  for (const port of ports) {
    t.match(
      text,
      `sluice_cluster_node_connections{node="127.0.0.1:${port}",pool="main",state="ready"} 1`,
      `primary ${port} up`,
    );
  }
  t.match(
    text,
    /sluice_cluster_node_connections\{node="127\.0\.0\.1:\d+",pool="blocking",state="idle"\} \d/,
    'blocking pools by node',
  );
});

t.test('pub/sub: a message published through any node reaches the subscriber', async (t) => {
  const stream = await openStream(broker.url, '/subscribe/news');
  t.teardown(() => stream.close());
  await stream.waitFor((line) => line === 'data: subscribe,news,1');
  // Published straight on every node in turn: classic pub/sub is broadcast across the cluster bus.
  for (const [i, node] of nodes.entries()) await node.publish('news', `from-${i}`);
  for (const i of [0, 1, 2]) await stream.waitFor((line) => line === `data: message,news,from-${i}`);
  t.pass('messages from all three nodes arrived');
});

t.test('a slot migrated during writes: MOVED and ASK are followed, every write lands', async (t) => {
  const tag = '{moving}';
  const slot = Number(await nodes[0]!.call('CLUSTER', 'KEYSLOT', tag));
  const from = await ownerOf(tag);
  const to = (from + 1) % 3;
  const ids = await Promise.all(nodes.map((n) => n.call('CLUSTER', 'MYID') as Promise<string>));
  const source = nodes[from]!;
  const target = nodes[to]!;

  let stop = false;
  let next = 0;
  const failures: unknown[] = [];
  const written: string[] = [];
  const writer = async () => {
    while (!stop) {
      const key = `${tag}:${next++}`;
      const answer = await post(broker.url, '/pipeline', [
        ['set', key, 'v'],
        ['get', key],
      ]);
      const ok =
        answer.status === 200 &&
        JSON.stringify(answer.body) === JSON.stringify([{ result: 'OK' }, { result: 'v' }]);
      if (ok) written.push(key);
      else failures.push(answer.body);
    }
  };
  const writers = [writer(), writer(), writer()];
  await waitFor(() => (written.length > 100 ? true : undefined), 20_000, {
    what: 'writes before the migration',
    everyMs: 50,
    retryErrors: true,
  });

  // The documented resharding steps (https://redis.io/commands/cluster-setslot/), keys moved in batches.
  await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[from]!);
  await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[to]!);
  for (;;) {
    const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 50)) as string[];
    if (keys.length === 0) break;
    await source.call('MIGRATE', '127.0.0.1', ports[to]!, '', 0, 5000, 'KEYS', ...keys);
  }
  for (const node of [target, source, ...nodes])
    await node.call('CLUSTER', 'SETSLOT', slot, 'NODE', ids[to]!);
  const movedAt = written.length;
  await waitFor(() => (written.length > movedAt + 100 ? true : undefined), 20_000, {
    what: 'writes after the migration',
    everyMs: 50,
    retryErrors: true,
  });
  stop = true;
  await Promise.all(writers);

  t.same(failures, [], 'no request failed during the migration');
  t.equal(await ownerOf(tag), to, 'the slot moved');
  t.equal(
    Number(await target.call('EXISTS', ...written)),
    written.length,
    'every acknowledged key is on the new owner',
  );
  t.equal(Number(await source.dbsize()) >= 0, true);
  t.comment(`${written.length} writes, ${written.length - movedAt} after the migration`);
});
