// A fleet: two brokers in front of one Redis behind a round-robin balancer serve one @upstash/redis client.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis as Upstash } from '@upstash/redis';
import t from 'tap';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const brokers = [await startTestBroker(redis.url), await startTestBroker(redis.url)];
t.teardown(() => Promise.all(brokers.map((b) => b.close())));

/** What the balancer saw of each response. */
interface Served {
  readonly broker: number;
  readonly status: number;
  readonly syncToken: string | undefined;
}
const served: Served[] = [];

// A minimal round-robin balancer: request n goes to broker n % 2, whatever the connection it came on.
let next = 0;
const balancer = createServer((req, res) => {
  const index = next++ % brokers.length;
  const target = new URL(req.url ?? '/', brokers[index]!.url);
  const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
    const token = answer.headers['upstash-sync-token'];
    served.push({ broker: index, status: answer.statusCode ?? 0, syncToken: token as string | undefined });
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
balancer.listen(0, '127.0.0.1');
await once(balancer, 'listening');
t.teardown(() => {
  balancer.closeAllConnections();
  balancer.close();
});
const url = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}`;

t.test('one client, two brokers: correct results, and a fresh sync token on every response', async (t) => {
  const client = new Upstash({ url, token: TOKEN });

  // Read-your-writes across brokers: each write and the read after it go to different brokers.
  for (let i = 0; i < 10; i++) {
    t.equal(await client.set(`fleet:${i}`, { i }), 'OK');
    t.same(await client.get(`fleet:${i}`), { i });
  }
  for (let i = 1; i <= 10; i++) t.equal(await client.incr('fleet:counter'), i);

  const [a, b, c] = await Promise.all([
    client.incr('fleet:n'),
    client.incr('fleet:n'),
    client.incr('fleet:n'),
  ]);
  t.same([a, b, c].sort(), [1, 2, 3], 'auto-pipelined commands run once each');

  t.same(await client.pipeline().hset('fleet:h', { x: 1, y: 'two' }).hgetall('fleet:h').exec(), [
    2,
    { x: 1, y: 'two' },
  ]);
  t.same(await client.multi().set('fleet:t', 'v').get('fleet:t').del('fleet:t').exec(), ['OK', 'v', 1]);

  // A rate limit shared by the fleet: its Lua scripts (EVALSHA, NOSCRIPT → EVAL) run on either broker.
  const ratelimit = new Ratelimit({
    redis: client,
    limiter: Ratelimit.slidingWindow(5, '30 s'),
    prefix: 'fleet-rl',
    ephemeralCache: false,
  });
  const allowed: boolean[] = [];
  for (let i = 0; i < 10; i++) allowed.push((await ratelimit.limit('user-1')).success);
  t.same(
    allowed,
    [true, true, true, true, true, false, false, false, false, false],
    'the limit holds fleet-wide',
  );

  t.ok(served.length >= 40, `${served.length} responses`);
  t.ok(
    served.every((s) => s.status === 200),
    'every response was a 200',
  );
  const perBroker = [0, 1].map((i) => served.filter((s) => s.broker === i).length);
  t.ok(
    perBroker.every((n) => n >= 10),
    `both brokers served (${perBroker.join(' / ')})`,
  );
  const tokens = served.map((s) => s.syncToken);
  t.ok(
    tokens.every((token) => typeof token === 'string' && token.length > 0),
    'every response carries a sync token',
  );
  t.equal(new Set(tokens).size, tokens.length, 'no sync token repeats, across both brokers');
});
