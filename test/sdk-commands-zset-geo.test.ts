import t from 'tap';
import { startSdk } from './helpers/sdk.js';

const { redis, plain } = await startSdk((fn) => t.teardown(fn));

t.test('zadd options, scores and ranks', async (t) => {
  for (const r of [redis, plain]) {
    const z = r === redis ? 'z:a' : 'z:p';
    t.equal(await r.zadd(z, { score: 1, member: 'one' }, { score: 2, member: 'two' }), 2);
    t.equal(await r.zadd(z, { nx: true }, { score: 9, member: 'one' }, { score: 3, member: 'three' }), 1);
    t.equal(await r.zadd(z, { xx: true, ch: true }, { score: 1.5, member: 'one' }), 1);
    t.equal(await r.zadd(z, { gt: true, ch: true }, { score: 1, member: 'one' }), 0);
    t.equal(await r.zadd(z, { lt: true, ch: true }, { score: 1, member: 'one' }), 1);
    t.equal(await r.zadd(z, { incr: true }, { score: 0.5, member: 'one' }), 1.5);
    t.equal(await r.zadd(z, { nx: true, incr: true }, { score: 1, member: 'one' }), null);
    t.equal(await r.zscore(z, 'one'), 1.5);
    t.equal(await r.zscore(z, 'none'), null);
    t.same(await r.zmscore(z, ['one', 'none', 'three']), [1.5, null, 3]);
    t.equal(await r.zincrby(z, 2, 'two'), 4);
    t.equal(await r.zcard(z), 3);
    t.equal(await r.zcount(z, 2, 4), 2);
    t.equal(await r.zcount(z, '(3', '+inf'), 1);
    t.equal(await r.zrank(z, 'three'), 1);
    t.equal(await r.zrevrank(z, 'three'), 1);
    t.equal(await r.zrank(z, 'none'), null);
  }
});

t.test('zrange by rank, score and lex, with rev, limit and scores', async (t) => {
  await redis.zadd('zr', { score: 1, member: 'a' }, { score: 2, member: 'b' }, { score: 3, member: 'c' });
  await redis.zadd('zr', { score: 4, member: 'd' });
  t.same(await redis.zrange('zr', 0, -1), ['a', 'b', 'c', 'd']);
  t.same(await redis.zrange('zr', 0, 1, { withScores: true }), ['a', 1, 'b', 2]);
  t.same(await redis.zrange('zr', 0, 1, { rev: true }), ['d', 'c']);
  t.same(await redis.zrange('zr', 2, 3, { byScore: true }), ['b', 'c']);
  t.same(await redis.zrange('zr', '(1', '+inf', { byScore: true, offset: 1, count: 2 }), ['c', 'd']);
  t.same(await redis.zrange('zr', '+inf', '-inf', { byScore: true, rev: true, offset: 0, count: 1 }), ['d']);
  t.same(await plain.zrange('zr', 2, 3, { byScore: true, withScores: true }), ['b', 2, 'c', 3]);
  const [first, ...rest] = ['a', 'b', 'c', 'd', 'e'].map((member) => ({ score: 0, member }));
  await redis.zadd('zl', first!, ...rest);
  t.same(await redis.zrange('zl', '[b', '(d', { byLex: true }), ['b', 'c']);
  t.same(await redis.zrange('zl', '+', '-', { byLex: true, rev: true, offset: 0, count: 2 }), ['e', 'd']);
  t.equal(await redis.zlexcount('zl', '[b', '[d'), 3);
  t.equal(await redis.zlexcount('zl', '-', '+'), 5);
  t.equal(await redis.exec(['ZRANGESTORE', 'zrstore', 'zr', '1', '2']), 2);
  t.same(await redis.zrange('zrstore', 0, -1, { withScores: true }), ['b', 2, 'c', 3]);
  t.same(await redis.exec(['ZREVRANGEBYSCORE', 'zr', '3', '2', 'WITHSCORES']), ['c', 3, 'b', 2]);
  t.equal(await redis.zremrangebylex('zl', '[a', '[b'), 2);
  t.equal(await redis.zremrangebyrank('zl', 0, 0), 1);
  t.equal(await redis.zremrangebyscore('zr', 4, 4), 1);
  t.equal(await redis.zrem('zr', 'a', 'none'), 1);
});

t.test('zunion, zinter, zdiff with weights and scores; store variants', async (t) => {
  await redis.zadd('zu1', { score: 1, member: 'one' }, { score: 2, member: 'two' });
  await redis.zadd(
    'zu2',
    { score: 1, member: 'one' },
    { score: 2, member: 'two' },
    { score: 3, member: 'three' },
  );
  t.same(await redis.zunion(2, ['zu1', 'zu2']), ['one', 'three', 'two']);
  t.same(await redis.zunion(2, ['zu1', 'zu2'], { withScores: true }), ['one', 2, 'three', 3, 'two', 4]);
  t.same(await redis.zunion(2, ['zu1', 'zu2'], { weights: [2, 3], withScores: true }), [
    'one',
    5,
    'three',
    9,
    'two',
    10,
  ]);
  t.same(await plain.zunion(2, ['zu1', 'zu2'], { aggregate: 'max', withScores: true }), [
    'one',
    1,
    'two',
    2,
    'three',
    3,
  ]);
  t.equal(await redis.zunionstore('zus', 2, ['zu1', 'zu2'], { weights: [1, 2] }), 3);
  t.same(await redis.zrange('zus', 0, -1, { withScores: true }), ['one', 3, 'three', 6, 'two', 6]);
  t.equal(await redis.zinterstore('zis', 2, ['zu1', 'zu2'], { aggregate: 'min' }), 2);
  t.same(await redis.zrange('zis', 0, -1, { withScores: true }), ['one', 1, 'two', 2]);
  t.equal(await redis.zdiffstore('zds', 2, 'zu2', 'zu1'), 1);
  t.same(await redis.zrange('zds', 0, -1), ['three']);
  // The SDK has no ZINTER/ZDIFF/ZRANDMEMBER helpers; exec sends them as they are.
  t.same(await redis.exec(['ZINTER', '2', 'zu1', 'zu2', 'WEIGHTS', '1', '2', 'WITHSCORES']), [
    'one',
    3,
    'two',
    6,
  ]);
  t.same(await redis.exec(['ZDIFF', '2', 'zu2', 'zu1', 'WITHSCORES']), ['three', 3]);
  t.equal(await redis.exec(['ZINTERCARD', '2', 'zu1', 'zu2']), 2);
  const random = (await redis.exec(['ZRANDMEMBER', 'zu2', '-4', 'WITHSCORES'])) as unknown[];
  t.equal(random.length, 8);
});

t.test('zpopmin, zpopmax, zscan', async (t) => {
  await redis.zadd('zp', { score: 1, member: 'a' }, { score: 2, member: 'b' }, { score: 3, member: 'c' });
  t.same(await redis.zpopmin('zp'), ['a', 1]);
  t.same(await redis.zpopmax('zp', 2), ['c', 3, 'b', 2]);
  t.same(await redis.zpopmin('zp'), []);
  await redis.zadd('zs', { score: 1, member: 'x' }, { score: 2.5, member: 'y' });
  const [cursor, items] = await redis.zscan('zs', 0, { match: '*', count: 10 });
  t.equal(String(cursor), '0');
  t.same(items, ['x', 1, 'y', 2.5]);
  const [, matched] = await plain.zscan('zs', 0, { match: 'y' });
  t.same(matched, ['y', 2.5]);
});

t.test('geo', async (t) => {
  t.equal(
    await redis.geoadd(
      'Sicily',
      { longitude: 13.361389, latitude: 38.115556, member: 'Palermo' },
      { longitude: 15.087269, latitude: 37.502669, member: 'Catania' },
    ),
    2,
  );
  t.equal(await redis.geoadd('Sicily', { nx: true }, { longitude: 13, latitude: 38, member: 'Palermo' }), 0);
  t.equal(
    await redis.geoadd(
      'Sicily',
      { xx: true, ch: true },
      { longitude: 13.361389, latitude: 38.115556, member: 'Palermo' },
    ),
    0,
  );
  t.equal(await redis.geodist('Sicily', 'Palermo', 'Catania'), 166274.1516);
  t.equal(await redis.geodist('Sicily', 'Palermo', 'Catania', 'KM'), 166.2742);
  t.equal(await redis.geodist('Sicily', 'Palermo', 'Nowhere'), null);
  t.same(await redis.geohash('Sicily', 'Palermo', 'Catania', 'Nowhere'), [
    'sqc8b49rny0',
    'sqdtr74hyu0',
    null,
  ]);
  const positions = await redis.geopos('Sicily', 'Palermo', 'Nowhere');
  t.equal(positions.length, 1);
  t.ok(Math.abs(positions[0]!.lng - 13.361389) < 1e-5);
  t.ok(Math.abs(positions[0]!.lat - 38.115556) < 1e-5);
  t.same(
    await redis.geosearch(
      'Sicily',
      { type: 'FROMLONLAT', coordinate: { lon: 15, lat: 37 } },
      { type: 'BYRADIUS', radius: 200, radiusType: 'KM' },
      'ASC',
    ),
    [{ member: 'Catania' }, { member: 'Palermo' }],
  );
  const detailed = await plain.geosearch(
    'Sicily',
    { type: 'FROMMEMBER', member: 'Palermo' },
    { type: 'BYBOX', rect: { width: 400, height: 400 }, rectType: 'KM' },
    'DESC',
    { count: { limit: 1 }, withDist: true, withHash: true, withCoord: true },
  );
  t.equal(detailed.length, 1);
  t.equal(detailed[0]!.member, 'Catania');
  t.equal(detailed[0]!.dist, 166.2742);
  t.equal(detailed[0]!.hash, '3479447370796909');
  t.ok(Math.abs(detailed[0]!.coord!.long - 15.087269) < 1e-5);
  t.equal(
    await redis.geosearchstore(
      'SicilyStore',
      'Sicily',
      { type: 'FROMLONLAT', coordinate: { lon: 15, lat: 37 } },
      { type: 'BYRADIUS', radius: 100, radiusType: 'KM' },
      'ASC',
      { storeDist: true },
    ),
    1,
  );
  t.same(await redis.zrange('SicilyStore', 0, -1), ['Catania']);
});

t.test('hyperloglog', async (t) => {
  t.equal(await redis.pfadd('hll1', 'a', 'b', 'c'), 1);
  t.equal(await redis.pfadd('hll1', 'a'), 0);
  t.equal(await redis.pfadd('hll2', 'c', 'd'), 1);
  t.equal(await redis.pfcount('hll1'), 3);
  t.equal(await redis.pfcount('hll1', 'hll2'), 4);
  t.equal(await redis.pfmerge('hllm', 'hll1', 'hll2'), 'OK');
  t.equal(await plain.pfcount('hllm'), 4);
});
