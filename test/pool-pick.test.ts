// Which pool connection a request goes to (broker/redis/pool.ts): unpinned requests share the first connection that
// is not busy, so commands arriving together reach Redis in one write; requests of clients with large (or, for a
// WebSocket, not yet known) replies spread over the other connections, never the first. Read from Redis's own
// CLIENT LIST (each connection's last command).
import t from 'tap';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { call, keepAliveAgent } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { Peer } from './helpers/ws.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'pool-size': 4 } });
t.teardown(() => broker.close());

/** The last command of each main-pool connection, by connection name. */
async function lastCommands(): Promise<Map<string, string>> {
  const list = (await redis.client().client('LIST')) as string;
  const byName = new Map<string, string>();
  for (const line of list.split('\n')) {
    const name = / name=(sluice-main-\d+)/.exec(line)?.[1];
    if (name) byName.set(name, /(?:^|\s)cmd=(\S+)/.exec(line)?.[1] ?? '');
  }
  return byName;
}

t.test('HTTP requests arriving together share one connection', async (t) => {
  t.equal((await lastCommands()).size, 4, 'four main-pool connections');
  const agent = keepAliveAgent(64);
  t.teardown(() => agent.destroy());
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => call(broker.url, '/', ['echo', `m${i}`], { agent })),
  );
  t.ok(
    results.every((r) => r.status === 200),
    'all answered',
  );
  const echoed = [...(await lastCommands()).values()].filter((cmd) => cmd === 'echo');
  t.equal(echoed.length, 1, 'one connection carried them');
});

t.test(
  'new WebSocket sessions spread over the connections after the first, then move by reply size',
  async (t) => {
    const used = new Set<string>();
    const peers: Peer[] = [];
    for (let i = 0; i < 3; i++) {
      const before = await lastCommands();
      const peer = await Peer.open(broker.url, { token: TOKEN });
      t.teardown(() => peer.ws.terminate());
      peers.push(peer);
      t.same(await peer.request({ id: 1, cmd: ['strlen', `ws${i}`] }), { id: 1, result: 0 });
      for (const [name, cmd] of await lastCommands())
        if (cmd === 'strlen' && before.get(name) !== 'strlen') used.add(name);
    }
    t.same(
      [...used].sort(),
      ['sluice-main-1', 'sluice-main-2', 'sluice-main-3'],
      'three sockets, three connections',
    );
    // Idle and known to get small replies, a socket moves to the first connection with the HTTP traffic.
    t.same(await peers[0]!.request({ id: 2, cmd: ['hlen', 'ws-small'] }), { id: 2, result: 0 });
    t.equal(
      (await lastCommands()).get('sluice-main-0'),
      'hlen',
      'its next request went to the first connection',
    );
  },
);

t.test('a client known to get large replies keeps off the first connection', async (t) => {
  await redis.client().set('large', 'v'.repeat(256 * 1024));
  const peer = await Peer.open(broker.url, { token: TOKEN });
  t.teardown(() => peer.ws.terminate());
  for (let i = 1; i <= 8; i++) {
    const reply = (await peer.request({ id: i, cmd: ['getrange', 'large', '0', '-1'] })) as {
      result: string;
    };
    t.equal(reply.result.length, 256 * 1024);
  }
  t.not((await lastCommands()).get('sluice-main-0'), 'getrange', 'no large reply on the first connection');
});
