// The client's HTTP transport against the real broker and a real redis-server.

import t from 'tap';
import { type Client, SluiceError, createClient } from '../client/index.js';
import { READONLY_TOKEN, TOKEN, startTestBroker } from './helpers/broker.js';
import { newerSyncToken } from '../client/wire.js';
import { rejects } from './helpers/client.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

function client(t: { teardown(fn: () => unknown): void }, token = TOKEN): Client {
  const c = createClient({ url: broker.url, token });
  t.teardown(() => c.close());
  return c;
}

t.test('commands by method and by call, values decoded from base64', async (t) => {
  const c = client(t);
  t.equal(await c.set('h:k', 'v'), 'OK');
  t.equal(await c.get('h:k'), 'v');
  t.equal(await c.call('GET', 'h:k'), 'v');
  t.equal(await c.ping(), 'PONG');
  t.equal(await c.get('h:missing'), null);
  t.equal(await c.hset('h:h', 'f1', 'a', 'f2', 'é'), 2);
  t.same(await c.hgetall('h:h'), ['f1', 'a', 'f2', 'é']);
  t.equal(await c.incrby('h:n', 3), 3);
  t.equal(await c.zadd('h:z', 1.5, 'm'), 1);
  t.equal(await c.zscore('h:z', 'm'), '1.5');
  t.equal(await c.type('h:k'), 'string');
  t.same(
    await c.eval('return {"OK", redis.status_reply("OK"), 7}', 0),
    ['OK', 'OK', 7],
    'OK inside arrays is decoded',
  );
});

t.test('exact big integers and binary values', async (t) => {
  const c = client(t);
  await c.set('h:big', '9223372036854775806');
  t.equal(await c.incr('h:big'), 9223372036854775807n, 'INCR beyond 2^53 is an exact bigint');
  t.equal(await c.incrby('h:big2', 9007199254740993n), 9007199254740993n, 'bigint arguments are exact');
  const bytes = new Uint8Array([0, 0xff, 0xfe, 0x80, 10, 13]);
  t.equal(await c.set('h:bin', bytes), 'OK', 'a non-UTF-8 last argument travels as a path-style body');
  t.same(await c.callBuffer('GET', 'h:bin'), bytes);
  t.same(await redis.client().getBuffer('h:bin'), Buffer.from(bytes), 'stored exactly');
  const p = await c.pipeline({ binary: true }).get('h:bin').strlen('h:bin').exec();
  t.same(p, [bytes, 6]);
  const e = await rejects(c.pipeline().set('h:x', bytes).exec());
  t.equal(e.code, 'SLUICE_ERR_CLIENT_BAD_ARG');
});

t.test('same-tick commands travel as one /pipeline request, in order', async (t) => {
  const paths: string[] = [];
  const c = createClient({
    url: broker.url,
    token: TOKEN,
    fetch: (url, init) => {
      paths.push(new URL(url).pathname);
      return fetch(url, init);
    },
  });
  t.teardown(() => c.close());
  const results = await Promise.all([c.set('h:o', '1'), c.incr('h:o'), c.incr('h:o'), c.get('h:o')]);
  t.same(results, ['OK', 2, 3, '3']);
  t.same(paths, ['/pipeline'], 'one request');
  paths.length = 0;
  const many = await Promise.all(Array.from({ length: 2500 }, (_, i) => c.echo(String(i))));
  t.same(
    many,
    Array.from({ length: 2500 }, (_, i) => String(i)),
  );
  t.same(paths, ['/pipeline', '/pipeline', '/pipeline'], '2,500 commands in batches of at most 1,000');
  paths.length = 0;
  await Promise.all([c.get('h:o'), c.withDeadline(1000).get('h:o')]);
  t.equal(paths.length, 2, 'a different deadline goes in its own request');
});

t.test('errors: Redis text passes through with REDIS_ERR, per item in a batch', async (t) => {
  const c = client(t);
  await c.set('h:s', 'str');
  const [a, b] = await Promise.allSettled([c.lpush('h:s', 'x'), c.get('h:s')]);
  t.equal(a.status, 'rejected');
  const err = (a as PromiseRejectedResult).reason as SluiceError;
  t.ok(err instanceof SluiceError);
  t.equal(err.code, 'REDIS_ERR');
  t.match(err.message, /^WRONGTYPE/);
  t.equal(err.retryable, false);
  t.same(b, { status: 'fulfilled', value: 'str' }, 'the other item still succeeds');
  const ro = client(t, READONLY_TOKEN);
  const noperm = await rejects(ro.set('h:ro', '1'));
  t.match(noperm.message, /NOPERM/);
  t.equal(await ro.get('h:s'), 'str');
  const refused = await rejects(c.select(1));
  t.equal(refused.code, 'SLUICE_ERR_COMMAND_REFUSED');
  const bad = await rejects(createClient({ url: broker.url, token: 'nope' }).get('h:s'));
  t.equal(bad.code, 'SLUICE_ERR_AUTH_INVALID');
  t.equal(bad.status, 401);
});

t.test('pipeline and multi builders', async (t) => {
  const c = client(t);
  const p = c.pipeline().set('h:p', '1').incr('h:p').call('GET', 'h:p').lpush('h:p', 'x');
  t.equal(p.length, 4);
  const out = await p.exec();
  t.same(out.slice(0, 3), ['OK', 2, '2']);
  t.ok(out[3] instanceof SluiceError && out[3].code === 'REDIS_ERR', 'per-item error returned, not thrown');
  t.same(await c.pipeline().exec(), [], 'empty pipeline sends nothing');
  const m = await c.multi().set('h:m', '1').incr('h:m').get('h:m').exec();
  t.same(m, ['OK', 2, '2']);
  const runtime = await c.multi().set('h:m2', 'a').incr('h:m2').get('h:m2').exec();
  t.equal(runtime[0], 'OK');
  t.ok(runtime[1] instanceof SluiceError, 'a runtime error inside EXEC is an item');
  t.equal(runtime[2], 'a');
  const discarded = await rejects(c.multi().set('h:m3', '1').call('NOSUCHCOMMAND').exec());
  t.equal(discarded.code, 'REDIS_ERR');
  t.equal(discarded.status, 400);
  t.equal(await c.exists('h:m3'), 0, 'a discarded transaction ran nothing');
});

t.test('per-call deadline is sent to the broker', async (t) => {
  const c = client(t);
  t.equal(await c.withDeadline(2000).set('h:d', '1'), 'OK');
  redis.pause();
  const late = await rejects(c.withDeadline(100).get('h:d'));
  redis.resume();
  t.ok(['SLUICE_ERR_DEADLINE_EXPIRED', 'SLUICE_ERR_REDIS_TIMEOUT'].includes(late.code), late.code);
  t.equal(late.status, 504);
  t.equal(await c.get('h:d'), '1', 'recovers after Redis resumes');
});

t.test('network failure before any reply is reported once, never re-sent', async (t) => {
  let calls = 0;
  const c = createClient({
    url: 'http://127.0.0.1:1',
    token: TOKEN,
    fetch: (url, init) => {
      calls++;
      return fetch(url, init);
    },
  });
  const e = await rejects(c.incr('h:never'));
  t.equal(e.code, 'SLUICE_ERR_CLIENT_NETWORK');
  t.equal(e.retryable, false);
  t.equal(calls, 1, 'one attempt');
});

t.test('subscribe over SSE receives a PUBLISH', async (t) => {
  const c = client(t);
  const got: Array<[string, string]> = [];
  let unsubscribe: () => void;
  try {
    unsubscribe = await c.subscribe('h:chan', (message, channel) => got.push([message, channel]));
  } catch (error) {
    if (error instanceof SluiceError && error.code === 'SLUICE_ERR_HTTP_NOT_FOUND') {
      t.comment('skipped: the broker has no SSE subscribe yet');
      return;
    }
    throw error;
  }
  const gotP: Array<[string, string, string]> = [];
  const punsubscribe = await c.psubscribe('h:ch*', (m, ch, pat) => gotP.push([m, ch, pat]));
  t.equal(await c.publish('h:chan', 'hello, world'), 2);
  await waitFor(() => got.length >= 1 && gotP.length >= 1, 1000, { everyMs: 10 });
  t.same(got, [['hello, world', 'h:chan']]);
  t.same(gotP, [['hello, world', 'h:chan', 'h:ch*']]);
  unsubscribe();
  punsubscribe();
});

t.test('the sync token kept is the newest position of one replication ID', async (t) => {
  const id = 'a'.repeat(40);
  const at = (offset: number, nonce = 'n-1') => `s1.${id}.${offset}.${'M'.repeat(22)}.${nonce}`;
  t.equal(newerSyncToken('', at(5)), at(5), 'the first token is kept');
  t.equal(newerSyncToken(at(5), at(9, 'n-2')), at(9, 'n-2'), 'a newer position replaces it');
  t.equal(
    newerSyncToken(at(9), at(5, 'n-3')),
    at(9),
    'an older position (a response that landed late) does not',
  );
  t.equal(newerSyncToken(at(9), at(9, 'n-4')), at(9, 'n-4'), 'the same position: the fresh token');
  const other = `s1.${'b'.repeat(40)}.3.${'M'.repeat(22)}.n-5`;
  t.equal(newerSyncToken(at(9), other), other, 'another replication ID (a failover): the new one');
  t.equal(
    newerSyncToken(at(9), 'opaque-upstash-token'),
    'opaque-upstash-token',
    'tokens of other servers: as sent',
  );
  t.equal(newerSyncToken(at(9), ''), '', 'a response without one resets it, as @upstash/redis does');
});
