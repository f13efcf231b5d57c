import t from 'tap';
import { startSdk } from './helpers/sdk.js';

const { redis, plain } = await startSdk((fn) => t.teardown(fn));

t.test('hashes', async (t) => {
  for (const r of [redis, plain]) {
    const h = r === redis ? 'h:a' : 'h:p';
    t.equal(await r.hset(h, { f1: 'v1', f2: 2, f3: { o: [1] } }), 3);
    t.equal(await r.hget(h, 'f1'), 'v1');
    t.equal(await r.hget(h, 'f2'), 2);
    t.same(await r.hget(h, 'f3'), { o: [1] });
    t.equal(await r.hget(h, 'nofield'), null);
    t.same(await r.hgetall(h), { f1: 'v1', f2: 2, f3: { o: [1] } });
    t.equal(await r.hgetall('h:none'), null);
    t.same(await r.hmget(h, 'f1', 'f2', 'nofield'), { f1: 'v1', f2: 2, nofield: null });
    t.equal(await r.hmget('h:none', 'f1'), null);
    t.equal(await r.hmset(`${h}:m`, { a: 'x', b: 'y' }), 'OK');
    t.equal(await r.hsetnx(h, 'f1', 'no'), 0);
    t.equal(await r.hsetnx(h, 'f4', 'yes'), 1);
    t.equal(await r.hexists(h, 'f4'), 1);
    t.equal(await r.hexists(h, 'nofield'), 0);
    t.equal(await r.hdel(h, 'f4', 'nofield'), 1);
    t.equal(await r.hlen(h), 3);
    t.same((await r.hkeys(h)).sort(), ['f1', 'f2', 'f3']);
    t.same(await r.hvals(`${h}:m`), ['x', 'y']);
    t.equal(await r.hincrby(h, 'n', 5), 5);
    t.equal(await r.hincrby(h, 'n', -2), 3);
    t.equal(await r.hincrbyfloat(h, 'fl', 1.25), 1.25);
    t.equal(await r.hstrlen(h, 'f1'), 2);
    t.equal(await r.hstrlen(h, 'nofield'), 0);
    t.ok(['f1', 'f2', 'f3', 'n', 'fl'].includes(String(await r.hrandfield(h))));
    t.equal(((await r.hrandfield(h, 2, false)) as unknown as string[]).length, 2);
    t.equal(((await r.hrandfield(h, -7, false)) as unknown as string[]).length, 7);
    const withValues = await r.hrandfield<Record<string, unknown>>(`${h}:m`, 2, true);
    t.same(withValues, { a: 'x', b: 'y' });
    t.equal(await r.hrandfield('h:none'), null);
    const [cursor, fields] = await r.hscan(`${h}:m`, 0);
    t.equal(String(cursor), '0');
    t.same(fields, ['a', 'x', 'b', 'y']);
    const [, matched] = await r.hscan(`${h}:m`, 0, { match: 'b*', count: 10 });
    t.same(matched, ['b', 'y']);
  }
});

t.test('lists', async (t) => {
  for (const r of [redis, plain]) {
    const l = r === redis ? 'l:a' : 'l:p';
    t.equal(await r.rpush(l, 'a', 'b', 'c', 'b'), 4);
    t.equal(await r.lpush(l, 'z'), 5);
    t.equal(await r.lpushx('l:none', 'x'), 0);
    t.equal(await r.rpushx(l, 'end'), 6);
    t.same(await r.lrange(l, 0, -1), ['z', 'a', 'b', 'c', 'b', 'end']);
    t.equal(await r.llen(l), 6);
    t.equal(await r.lindex(l, 1), 'a');
    t.equal(await r.lindex(l, 100), null);
    t.equal(await r.lpos(l, 'b'), 2);
    t.equal(await r.lpos(l, 'b', { rank: 2 }), 4);
    t.same(await r.lpos(l, 'b', { count: 0 }), [2, 4]);
    t.equal(await r.lpos(l, 'nope'), null);
    t.equal(await r.linsert(l, 'before', 'c', 'bc'), 7);
    t.equal(await r.linsert(l, 'after', 'nope', 'x'), -1);
    t.equal(await r.lset(l, 0, 'Z'), 'OK');
    t.equal(await r.lrem(l, 0, 'b'), 2);
    t.same(await r.lrange(l, 0, -1), ['Z', 'a', 'bc', 'c', 'end']);
    t.equal(await r.ltrim(l, 1, -1), 'OK');
    t.equal(await r.lpop(l), 'a');
    t.same(await r.lpop(l, 2), ['bc', 'c']);
    t.equal(await r.rpop(l), 'end');
    t.equal(await r.rpop(l), null);
    t.equal(await r.lpop('l:none', 2), null);
    await r.rpush(`${l}:src`, 1, 2, 3);
    t.equal(await r.lmove(`${l}:src`, `${l}:dst`, 'left', 'right'), 1);
    t.equal(await r.lmove(`${l}:src`, `${l}:dst`, 'right', 'left'), 3);
    t.same(await r.lrange(`${l}:dst`, 0, -1), [3, 1]);
    t.equal(await r.exec(['RPOPLPUSH', `${l}:src`, `${l}:dst`]), 2);
    t.same(await r.lmpop(2, ['l:none', `${l}:dst`], 'LEFT'), [`${l}:dst`, [2]]);
    t.same(await r.lmpop(1, [`${l}:dst`], 'RIGHT', 5), [`${l}:dst`, [1, 3]]);
    t.equal(await r.lmpop(1, [`${l}:dst`], 'LEFT'), null);
  }
});

t.test('sets', async (t) => {
  for (const r of [redis, plain]) {
    const s = r === redis ? 's:a' : 's:p';
    t.equal(await r.sadd(s, 'a', 'b', 'c'), 3);
    t.equal(await r.sadd(`${s}2`, 'b', 'c', 'd'), 3);
    t.equal(await r.scard(s), 3);
    t.equal(await r.sismember(s, 'a'), 1);
    t.same(await r.smismember(s, ['a', 'x', 'c']), [1, 0, 1]);
    t.same((await r.sinter(s, `${s}2`)).sort(), ['b', 'c']);
    t.same((await r.sunion(s, `${s}2`)).sort(), ['a', 'b', 'c', 'd']);
    t.same(await r.sdiff(s, `${s}2`), ['a']);
    t.equal(await r.sinterstore(`${s}:i`, s, `${s}2`), 2);
    t.equal(await r.sunionstore(`${s}:u`, s, `${s}2`), 4);
    t.equal(await r.sdiffstore(`${s}:d`, s, `${s}2`), 1);
    t.equal(await r.sintercard([s, `${s}2`]), 2);
    t.equal(await r.sintercard([s, `${s}2`], { limit: 1 }), 1);
    t.equal(await r.smove(s, `${s}2`, 'a'), 1);
    t.equal(await r.smove(s, `${s}2`, 'a'), 0);
    t.ok(['b', 'c'].includes(String(await r.srandmember(s))));
    t.equal((await r.srandmember<string[]>(s, 5))?.length, 2);
    t.equal((await r.srandmember<string[]>(s, -5))?.length, 5);
    t.equal(await r.srandmember('s:none'), null);
    const [cursor, members] = await r.sscan(s, 0, { match: '*', count: 100 });
    t.equal(String(cursor), '0');
    t.same(members.sort(), ['b', 'c']);
    t.equal(await r.srem(s, 'b', 'x'), 1);
    t.equal(await r.spop(s), 'c');
    t.equal(await r.spop(s), null);
    t.same((await r.spop<string[]>(`${s}2`, 10))?.sort(), ['a', 'b', 'c', 'd']);
    await r.sadd(`${s}:n`, 1, 2);
    t.same((await r.smembers(`${s}:n`)).sort(), [1, 2]);
    t.same(await r.smembers('s:none'), []);
  }
});
