// The official @upstash/redis client, in its default configuration (auto-pipelining and base64 on), against Sluice.
import { Redis } from '@upstash/redis';
import t from 'tap';
import { TOKEN, startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());
const client = new Redis({ url: broker.url, token: TOKEN, enableTelemetry: false });
const noAuto = new Redis({
  url: broker.url,
  token: TOKEN,
  enableTelemetry: false,
  enableAutoPipelining: false,
});

t.test('strings and numbers', async (t) => {
  t.equal(await client.set('s', 'hello'), 'OK');
  t.equal(await client.get('s'), 'hello');
  t.equal(await client.incr('n'), 1);
  t.equal(await client.incrby('n', 41), 42);
  t.equal(await client.incrbyfloat('f', 1.5), 1.5);
  t.same(await client.mget('s', 'missing'), ['hello', null]);
  t.equal(await client.append('s', ' world'), 11);
  t.equal(await client.strlen('s'), 11);
  t.equal(await client.set('nx', 'a', { nx: true }), 'OK');
  t.equal(await client.set('nx', 'b', { nx: true }), null);
  t.equal(await client.getdel('nx'), 'a');
  t.equal(await client.type('s'), 'string');
  t.equal(await client.exists('s', 'missing'), 1);
});

t.test('JSON values round-trip (automatic deserialisation)', async (t) => {
  await client.set('obj', { a: 1, b: [true, 'x'] });
  t.same(await client.get('obj'), { a: 1, b: [true, 'x'] });
});

t.test('binary-ish and emoji values round-trip exactly', async (t) => {
  const text = 'emoji 🚀 ünïcödé \u0000 nul, "quotes" and \\ backslash';
  await client.set('emoji', text);
  t.equal(await client.get('emoji'), text);
  await noAuto.set('emoji2', text);
  t.equal(await noAuto.get('emoji2'), text);
});

t.test('an integer of 2^53+1 stays exact on the wire', async (t) => {
  await client.set('big', '9007199254740992');
  const response = await fetch(`${broker.url}/`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: '["incr","big"]',
  });
  t.equal(await response.text(), '{"result":9007199254740993}');
});

t.test('hashes, lists, sets, sorted sets', async (t) => {
  t.equal(await client.hset('h', { a: 1, b: 'two' }), 2);
  t.same(await client.hgetall('h'), { a: 1, b: 'two' });
  t.equal(await client.hget('h', 'b'), 'two');
  t.equal(await client.lpush('l', 'a', 'b', 'c'), 3);
  t.same(await client.lrange('l', 0, -1), ['c', 'b', 'a']);
  t.equal(await client.rpop('l'), 'a');
  t.equal(await client.sadd('set', 'x', 'y'), 2);
  t.same((await client.smembers('set')).sort(), ['x', 'y']);
  t.equal(await client.sismember('set', 'x'), 1);
  t.equal(await client.zadd('z', { score: 1.5, member: 'one' }, { score: 3, member: 'three' }), 2);
  t.equal(await client.zscore('z', 'one'), 1.5);
  t.same(await client.zrange('z', 0, -1, { withScores: true }), ['one', 1.5, 'three', 3]);
});

t.test('streams', async (t) => {
  const id = await client.xadd('stream', '*', { field: 'value' });
  t.match(id, /^\d+-\d+$/);
  const entries = await client.xrange('stream', '-', '+');
  t.same(entries, { [id]: { field: 'value' } });
  t.equal(await client.xlen('stream'), 1);
});

t.test('scripts: EVAL, EVALSHA and the NOSCRIPT fallback', async (t) => {
  t.equal(await client.eval('return ARGV[1]', [], ['hello']), 'hello');
  const script = client.createScript<string>(`return "script-" .. ARGV[1]`);
  t.equal(await script.exec([], ['a']), 'script-a', 'first call: EVALSHA fails with NOSCRIPT, EVAL runs');
  t.equal(await script.exec([], ['b']), 'script-b', 'second call: EVALSHA hits');
  t.same(
    await client.eval("return {'OK', redis.status_reply('OK'), 1}", [], []),
    ['OK', 'OK', 1],
    'OK inside arrays decodes',
  );
});

t.test('pipelines with a failing item in the middle', async (t) => {
  const p = noAuto.pipeline();
  p.set('p1', 'v');
  p.incr('p1');
  p.get('p1');
  const results = await p.exec({ keepErrors: true });
  t.same(results[0], { result: 'OK', error: undefined });
  t.match(results[1], { error: /ERR value is not an integer/ });
  t.same(results[2], { result: 'v', error: undefined });
});

t.test('auto-pipelined concurrent commands each get their own result or error', async (t) => {
  await client.set('ap', 'text');
  const [a, b, c] = await Promise.allSettled([client.get('ap'), client.incr('ap'), client.exists('ap')]);
  t.same(a, { status: 'fulfilled', value: 'text' });
  t.equal(b?.status, 'rejected');
  t.same(c, { status: 'fulfilled', value: 1 });
});

t.test('transactions, including EXECABORT', async (t) => {
  const tx = noAuto.multi();
  tx.set('tx', 1);
  tx.incr('tx');
  tx.get('tx');
  t.same(await tx.exec(), ['OK', 2, 2]);
  const bad = noAuto.multi();
  bad.set('tx', 5);
  // A command Redis refuses at queue time discards the whole transaction.
  bad.hset('tx-hash', {});
  await t.rejects(bad.exec(), /ERR/);
  t.equal(await client.get('tx'), 2, 'the discarded transaction wrote nothing');
});

t.test('sync token changes on every response', async (t) => {
  await client.set('sync', 1);
  const first = client.readYourWritesSyncToken;
  await client.set('sync', 2);
  t.ok(first);
  t.not(client.readYourWritesSyncToken, first);
});

t.test('1,000 concurrent requests use at most SLUICE_POOL_SIZE Redis connections', async (t) => {
  const admin = redis.client();
  const before = Number((await admin.info('stats')).match(/total_connections_received:(\d+)/)?.[1]);
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      fetch(`${broker.url}/`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(['incr', `c${i % 10}`]),
      }),
    ),
  );
  t.ok(results.every((r) => r.status === 200));
  const list = (await admin.client('LIST')) as string;
  const brokerConns = list.split('\n').filter((l) => l.includes(' name=sluice-main-')).length;
  t.equal(brokerConns, broker.config.poolSize, 'exactly the pool');
  const after = Number((await admin.info('stats')).match(/total_connections_received:(\d+)/)?.[1]);
  t.equal(after - before, 0, 'no new Redis connection was opened for the burst');
});
