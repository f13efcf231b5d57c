import t from 'tap';
import { TOKEN } from './helpers/broker.js';
import { startSdk } from './helpers/sdk.js';

const { broker, redis, plain } = await startSdk((fn) => t.teardown(fn));

t.test('xadd with trim options, xrange, xrevrange, xlen, xdel, xtrim', async (t) => {
  const first = await redis.xadd('st', '*', { name: 'one', n: 1 });
  t.match(first, /^\d+-\d+$/);
  await t.rejects(redis.xadd('st', '1-1', { a: 'b' }), /equal or smaller than the target stream top item/);
  const ids = [first];
  for (let i = 2; i <= 5; i++) ids.push(await plain.xadd('st', '*', { name: `n${i}`, obj: { i } }));
  t.equal(await redis.xlen('st'), 5);
  const all = await redis.xrange('st', '-', '+');
  t.same(all[first], { name: 'one', n: 1 });
  t.same(all[ids[4]!], { name: 'n5', obj: { i: 5 } });
  t.same(Object.keys(await redis.xrange('st', '-', '+', 2)), ids.slice(0, 2));
  t.same(Object.keys(await plain.xrevrange('st', '+', '-', 2)), [ids[4], ids[3]]);
  t.same(await redis.xrange('st:none', '-', '+'), {});
  t.equal(await redis.xadd('st:none', '*', { a: 1 }, { nomkStream: true }), null);
  await redis.xadd('st', '*', { x: 1 }, { trim: { type: 'MAXLEN', threshold: 3, comparison: '=' } });
  t.equal(await redis.xlen('st'), 3);
  await redis.xadd(
    'st',
    '*',
    { x: 2 },
    { trim: { type: 'MAXLEN', threshold: 2, comparison: '~', limit: 0 } },
  );
  t.ok((await redis.xlen('st')) >= 2);
  const remaining = Object.keys(await redis.xrange('st', '-', '+'));
  t.equal(await redis.xdel('st', [remaining[0]!, '0-1']), 1);
  t.equal(
    await redis.xtrim('st', { strategy: 'MAXLEN', exactness: '=', threshold: 1 }),
    remaining.length - 2,
  );
  t.equal(await redis.xtrim('st', { strategy: 'MINID', threshold: '0-1' }), 0);
});

t.test('xread', async (t) => {
  const a = await redis.xadd('xr1', '*', { f: 'v1' });
  const b = await redis.xadd('xr2', '*', { f: 'v2' });
  t.same(await redis.xread('xr1', '0-0'), [['xr1', [[a, ['f', 'v1']]]]]);
  t.same(await plain.xread(['xr1', 'xr2'], ['0-0', '0-0'], { count: 1 }), [
    ['xr1', [[a, ['f', 'v1']]]],
    ['xr2', [[b, ['f', 'v2']]]],
  ]);
  t.equal(await redis.xread('xr1', '$'), null);
});

t.test('consumer groups: create, readgroup, ack, pending, claim, autoclaim, info, destroy', async (t) => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await redis.xadd('sg', '*', { i }));
  t.equal(await redis.xgroup('sg', { type: 'CREATE', group: 'g', id: '0' }), 'OK');
  t.equal(
    await redis.xgroup('sg:new', { type: 'CREATE', group: 'g', id: '$', options: { MKSTREAM: true } }),
    'OK',
  );
  await t.rejects(redis.xgroup('sg', { type: 'CREATE', group: 'g', id: '0' }), /BUSYGROUP/);
  t.equal(await redis.xgroup('sg', { type: 'CREATECONSUMER', group: 'g', consumer: 'idle' }), 1);
  const read = (await redis.xreadgroup('g', 'c1', 'sg', '>', { count: 2 })) as unknown[];
  t.same(read, [
    [
      'sg',
      [
        [ids[0], ['i', 0]],
        [ids[1], ['i', 1]],
      ],
    ],
  ]);
  t.same(await plain.xreadgroup('g', 'c1', 'sg', '>'), [['sg', [[ids[2], ['i', 2]]]]]);
  t.equal(await redis.xreadgroup('g', 'c1', 'sg', '>'), null);
  t.equal(await redis.xack('sg', 'g', ids[0]!), 1);
  t.equal(await redis.xack('sg', 'g', [ids[0]!, ids[1]!]), 1);
  const pending = (await redis.xpending('sg', 'g', '-', '+', 10)) as unknown[][];
  t.equal(pending.length, 1);
  t.equal(pending[0]![0], ids[2]);
  t.equal(pending[0]![1], 'c1');
  t.equal(pending[0]![3], 1);
  t.same(await redis.xpending('sg', 'g', '-', '+', 10, { consumer: 'nobody' }), []);
  t.same(await redis.exec(['XPENDING', 'sg', 'g']), [1, ids[2], ids[2], [['c1', 1]]]);
  const claimed = (await redis.xclaim('sg', 'g', 'c2', 0, ids[2]!)) as unknown[];
  t.same(claimed, [[ids[2], ['i', 2]]]);
  t.same(await plain.xclaim('sg', 'g', 'c3', 0, ids[2]!, { justId: true }), [ids[2]]);
  t.same(await redis.xautoclaim('sg', 'g', 'c4', 0, '0-0', { count: 10 }), ['0-0', [[ids[2], ['i', 2]]], []]);
  t.same(await redis.xautoclaim('sg', 'g', 'c5', 0, '0-0', { justId: true }), ['0-0', [ids[2]], []]);
  const groups = (await redis.xinfo('sg', { type: 'GROUPS' })) as unknown[][];
  t.equal(groups.length, 1);
  t.equal(groups[0]![1], 'g');
  const consumers = (await redis.xinfo('sg', { type: 'CONSUMERS', group: 'g' })) as unknown[][];
  t.same(
    consumers.map((c) => c[1]),
    ['c1', 'c2', 'c3', 'c4', 'c5', 'idle'],
  );
  t.equal(consumers.find((c) => c[1] === 'c5')![3], 1);
  t.same(await redis.xinfo('sg:new', { type: 'GROUPS' }).then((g) => (g as unknown[][])[0]![1]), 'g');
  t.equal(await redis.xgroup('sg', { type: 'DELCONSUMER', group: 'g', consumer: 'idle' }), 0);
  t.equal(await redis.xgroup('sg', { type: 'SETID', group: 'g', id: '$' }), 'OK');
  t.equal(await redis.xgroup('sg', { type: 'DESTROY', group: 'g' }), 1);
  t.same(await redis.xinfo('sg', { type: 'GROUPS' }), []);
});

t.test('functions (FUNCTION LOAD, FCALL, FCALL_RO, LIST, STATS, DELETE, FLUSH)', async (t) => {
  const code = `#!lua name=mylib
redis.register_function('echoarg', function(keys, args) return args[1] end)
redis.register_function{function_name='getkey', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}`;
  t.equal(await redis.functions.load({ code }), 'mylib');
  await redis.set('fk', 'fv');
  t.equal(await redis.functions.call('echoarg', [], ['hi']), 'hi');
  t.equal(await plain.functions.callRo('getkey', ['fk']), 'fv');
  const list = await redis.functions.list();
  t.equal(list[0]?.libraryName, 'mylib');
  t.same(list[0]?.functions.map((f) => f.name).sort(), ['echoarg', 'getkey']);
  const stats = await redis.functions.stats();
  t.same(stats.engines.LUA, { librariesCount: 1, functionsCount: 2 });
  t.equal(await redis.functions.delete('mylib'), 'OK');
  t.equal(await redis.functions.flush(), 'OK');
});

/**
 * SDK commands this Redis (7.0) cannot run; each must fail as a clean Redis error (an UpstashError in the client),
 * never a crash or a hang:
 * - Redis 7.4 hash-field TTL: HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL HEXPIRETIME HPEXPIRETIME HPERSIST;
 * - Redis 8.0: HGETEX HSETEX HGETDEL; Redis 8.2: XACKDEL XDELEX;
 * - CLIENT SETINFO (7.2; CLIENT is refused by Sluice anyway: connections are shared);
 * - JSON.* (RedisJSON module / Redis 8); Upstash-only: AR* arrays, SEARCH.*, VECTOR.*.
 */
t.test('commands Redis 7.0 lacks fail cleanly with a Redis error', async (t) => {
  await redis.hset('hf', { a: 1 });
  await redis.xadd('xs', '1-1', { a: 1 });
  const calls: [string, () => Promise<unknown>][] = [
    ['hexpire', () => redis.hexpire('hf', 'a', 10)],
    ['hpexpire', () => redis.hpexpire('hf', 'a', 10_000)],
    ['hexpireat', () => redis.hexpireat('hf', 'a', 2_000_000_000)],
    ['hpexpireat', () => redis.hpexpireat('hf', 'a', 2_000_000_000_000)],
    ['httl', () => redis.httl('hf', 'a')],
    ['hpttl', () => redis.hpttl('hf', 'a')],
    ['hexpiretime', () => redis.hexpiretime('hf', 'a')],
    ['hpexpiretime', () => redis.hpexpiretime('hf', 'a')],
    ['hpersist', () => redis.hpersist('hf', 'a')],
    // HGETEX/HGETDEL: the SDK's auto-pipeline runs their deserializer on a failed item (a TypeError in the SDK,
    // whatever the server), so the plain client shows the server's answer.
    ['hgetex', () => plain.hgetex('hf', { ex: 10 }, 'a')],
    ['hsetex', () => redis.hsetex('hf', { expiration: { ex: 10 } }, { a: 2 })],
    ['hgetdel', () => plain.hgetdel('hf', 'a')],
    ['xackdel', () => redis.xackdel('xs', 'g', 'KEEPREF', '1-1')],
    ['xdelex', () => redis.xdelex('xs', 'KEEPREF', '1-1')],
    ['client setinfo', () => redis.clientSetinfo('LIB-NAME', 'x')],
    ['json.set', () => redis.json.set('j', '$', { a: 1 })],
    ['json.get', () => plain.json.get('j', '$')],
    ['arlen', () => redis.arlen('arr')],
    ['arset', () => plain.arset('arr', 0, 'x')],
  ];
  for (const [name, call] of calls) {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof Error, `${name} rejects`);
    t.equal((error as Error).name, 'UpstashError', `${name} rejects with the SDK's UpstashError`);
    t.match((error as Error).message, /ERR/, `${name}: ${(error as Error).message}`);
  }
  const response = await fetch(`${broker.url}/`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(['HEXPIRE', 'hf', '10', 'FIELDS', '1', 'a']),
  });
  t.equal(response.status, 400);
  t.match(await response.json(), { error: /unknown command/ });
  // Still serving afterwards.
  t.same(await redis.hgetall('hf'), { a: 1 });
});
