// Scripts as Upstash clients send them: EVALSHA→EVAL fallback, shebang flags Redis rejects, SHA aliases, ratelimit.
import { createHash } from 'node:crypto';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import t from 'tap';
import { normaliseScript } from '../broker/protocol/scripts.js';
import { post, READONLY_TOKEN, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());
const direct = redis.client();
const upstash = new Redis({ url: broker.url, token: TOKEN, retry: false });

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const LOCKING = '#!lua flags=allow-key-locking\nreturn redis.call("INCR", KEYS[1])';

/** Redis's own call counts for a command, from INFO commandstats. */
async function calls(command: string): Promise<number> {
  const info = (await direct.info('commandstats')) as string;
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

t.test('normaliseScript keeps what Redis knows and drops the rest', async (t) => {
  const cases: [string, string | undefined][] = [
    ['return 1', undefined],
    ['#!lua\nreturn 1', undefined],
    ['#!lua flags=no-writes\nreturn 1', undefined],
    ['#!lua flags=allow-key-locking\nreturn 1', '#!lua\nreturn 1'],
    ['#!lua flags=no-writes,allow-key-locking\nreturn 1', '#!lua flags=no-writes\nreturn 1'],
    ['#!lua name=x flags=allow-key-locking,allow-oom\nreturn 1', '#!lua name=x flags=allow-oom\nreturn 1'],
    ['#!lua flags=allow-key-locking', '#!lua'],
  ];
  for (const [input, expected] of cases) t.equal(normaliseScript(input), expected, JSON.stringify(input));
});

t.test('@upstash/redis createScript: EVALSHA, NOSCRIPT, then EVAL, then EVALSHA', async (t) => {
  const script = upstash.createScript<string>('return ARGV[1]');
  t.equal(await script.exec([], ['hello']), 'hello', 'first call falls back to EVAL');
  t.equal(await script.exec([], ['again']), 'again', 'then EVALSHA finds it');
  const unknown = sha1('return "never loaded"');
  const single = await post(broker.url, '/', ['EVALSHA', unknown, '0']);
  t.equal(single.status, 400);
  t.match(single.body, { error: /^NOSCRIPT /, code: 'SLUICE_ERR_REDIS' }, 'NOSCRIPT passes through verbatim');
  const piped = await post(broker.url, '/pipeline', [['EVALSHA', unknown, '0']]);
  t.match(piped.body, [{ error: /^NOSCRIPT / }], 'and as a pipeline item');
});

t.test(
  'a script with #!lua flags=allow-key-locking runs, and EVALSHA of its original SHA works',
  async (t) => {
    const original = sha1(LOCKING);
    t.same((await post(broker.url, '/', ['EVAL', LOCKING, '1', 'locked'])).body, { result: 1 });
    t.same((await post(broker.url, '/', ['EVALSHA', original, '1', 'locked'])).body, { result: 2 });
    t.same((await post(broker.url, '/pipeline', [['EVALSHA', original, '1', 'locked']])).body, [
      { result: 3 },
    ]);
    t.same((await post(broker.url, '/multi-exec', [['EVALSHA', original, '1', 'locked']])).body, [
      { result: 4 },
    ]);
    t.same((await post(broker.url, '/', ['SCRIPT', 'EXISTS', original, sha1('nope')])).body, {
      result: [1, 0],
    });
    t.same(
      (await post(broker.url, '/', ['EVALSHA_RO', original, '1', 'locked'])).status,
      400,
      'EVALSHA_RO resolves too (Redis refuses the write)',
    );
    // A flag Redis knows is kept: no-writes still stops a write.
    const noWrites = '#!lua flags=no-writes,allow-key-locking\nreturn redis.call("SET", KEYS[1], "x")';
    const refused = await post(broker.url, '/', ['EVAL', noWrites, '1', 'nw']);
    t.equal(refused.status, 400);
    t.match(refused.body, { code: 'SLUICE_ERR_REDIS' });
    t.equal(await direct.exists('nw'), 0);
    // A read-only token may run it through EVAL_RO once the unknown flag is gone.
    const ro = '#!lua flags=allow-key-locking,no-writes\nreturn redis.call("GET", KEYS[1])';
    const roReply = await post(broker.url, '/', ['EVAL_RO', ro, '1', 'locked'], {
      Authorization: `Bearer ${READONLY_TOKEN}`,
    });
    t.same(roReply.body, { result: '4' });
  },
);

t.test(
  'SCRIPT LOAD answers the original SHA; after SCRIPT FLUSH, NOSCRIPT and EVAL re-teach it',
  async (t) => {
    const source = '#!lua flags=allow-key-locking\nreturn "loaded"';
    const original = sha1(source);
    const load = await post(broker.url, '/', ['SCRIPT', 'LOAD', source]);
    t.same(load.body, { result: original });
    t.same((await post(broker.url, '/', ['EVALSHA', original, '0'])).body, { result: 'loaded' });
    const piped = await post(broker.url, '/pipeline', [['SCRIPT', 'LOAD', source]]);
    t.same(piped.body, [{ result: original }], 'in a pipeline too');
    await direct.script('FLUSH');
    const gone = await post(broker.url, '/', ['EVALSHA', original, '0']);
    t.match(gone.body, { error: /^NOSCRIPT / });
    t.same((await post(broker.url, '/', ['EVAL', source, '0'])).body, { result: 'loaded' });
    t.same((await post(broker.url, '/', ['EVALSHA', original, '0'])).body, { result: 'loaded' });
  },
);

t.test('@upstash/ratelimit works unchanged: fixed window, sliding window, token bucket', async (t) => {
  await direct.config('RESETSTAT');
  const limiters = {
    fixedWindow: Ratelimit.fixedWindow(3, '30 s'),
    slidingWindow: Ratelimit.slidingWindow(3, '30 s'),
    tokenBucket: Ratelimit.tokenBucket(1, '30 s', 3),
  };
  for (const [name, limiter] of Object.entries(limiters)) {
    const ratelimit = new Ratelimit({ redis: upstash, limiter, prefix: `rl-${name}`, ephemeralCache: false });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await ratelimit.limit('user-1'));
    t.same(
      results.map((r) => r.success),
      [true, true, true, false, false],
      `${name}: three allowed, then limited`,
    );
    t.same(
      results.slice(0, 3).map((r) => r.remaining),
      [2, 1, 0],
      `${name}: remaining counts down`,
    );
    t.ok((await ratelimit.limit('user-2')).success, `${name}: another identifier has its own limit`);
    const remaining = await ratelimit.getRemaining('user-1');
    t.equal(remaining.remaining, 0, `${name}: getRemaining agrees`);
  }
  // SHA aliasing at work: after the first EVAL of each script, every call is an EVALSHA that Redis finds.
  const evals = await calls('eval');
  const evalshas = await calls('evalsha');
  t.comment(`Redis ran ${evalshas} EVALSHA and ${evals} EVAL`);
  t.ok(evals <= 6, 'at most one EVAL per script (limit and getRemaining, three algorithms)');
  t.ok(evalshas >= 18, 'every call tried EVALSHA of the original SHA first');
});
