// Which pool connection a request goes to (broker/redis/pool.ts): unpinned requests share the first connection that
// is not busy, so commands arriving together reach Redis in one write; WebSocket sessions, pinned for their
// lifetime, spread over the pool. Read from Redis's own CLIENT LIST (each connection's last command).
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

t.test('WebSocket sessions, pinned for their lifetime, spread over the pool', async (t) => {
  const used = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const before = await lastCommands();
    const peer = await Peer.open(broker.url, { token: TOKEN });
    t.teardown(() => peer.ws.terminate());
    t.same(await peer.request({ cmd: ['strlen', `ws${i}`] }), { id: 1, result: 0 });
    for (const [name, cmd] of await lastCommands())
      if (cmd === 'strlen' && before.get(name) !== 'strlen') used.add(name);
  }
  t.equal(used.size, 4, 'four sockets, four connections');
});
