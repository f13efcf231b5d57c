// Rights inside scripts and functions: restricted tokens' EVAL/EVALSHA/FCALL run as Redis ACL users with their rights.
import { Ratelimit } from '@upstash/ratelimit';
import { Redis as Upstash } from '@upstash/redis';
import t from 'tap';
import { post, READONLY_TOKEN, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { Peer } from './helpers/ws.js';
import { sleep } from './helpers/time.js';

const DENY_DEL = 'script-rights-deny-del';
const ALLOW = 'script-rights-allow-list';
const READWRITE = 'script-rights-readwrite';
const RATELIMIT = 'script-rights-ratelimit';
const TOKENS = [
  // What @upstash/ratelimit's sliding window needs: the script commands and what its script calls.
  {
    token: RATELIMIT,
    name: 'rl',
    right: 'readwrite' as const,
    allow: ['eval', 'evalsha', 'get', 'incrby', 'pexpire'],
  },
  { token: DENY_DEL, name: 'deny-del', right: 'admin' as const, deny: ['del', 'unlink'] },
  // README's allow-list example, with FCALL added so functions can be tried.
  {
    token: ALLOW,
    name: 'allow',
    right: 'readwrite' as const,
    allow: ['eval', 'evalsha', 'fcall', 'get', 'set'],
  },
  { token: READWRITE, name: 'rw', right: 'readwrite' as const },
];

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { tokens: TOKENS });
t.teardown(() => broker.close());
const direct = redis.client();

const LIBRARY = `#!lua name=rights
redis.register_function('del_key', function(keys) return redis.call('del', keys[1]) end)
redis.register_function('flush', function() return redis.call('flushdb') end)
redis.register_function('slowlog', function() return redis.call('slowlog', 'get') end)
redis.register_function('set_key', function(keys, args) return redis.call('set', keys[1], args[1]) end)`;
// Loaded by the admin token: FUNCTION LOAD is an ordinary write through the broker.
t.same((await post(broker.url, '/', ['FUNCTION', 'LOAD', 'REPLACE', LIBRARY])).body, { result: 'rights' });

const as = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Loads a script with the admin token and returns its SHA. */
async function load(source: string): Promise<string> {
  return ((await post(broker.url, '/', ['SCRIPT', 'LOAD', source])).body as { result: string }).result;
}

/** Runs one command through the broker as `token` and returns status and body. */
async function run(token: string, argv: string[]) {
  const reply = await post(broker.url, '/', argv, as(token));
  return { status: reply.status, body: reply.body as { result?: unknown; error?: string; code?: string } };
}

/** The three ways to reach a command from a script: EVAL, EVALSHA of the same source, FCALL of a function. */
async function viaScripts(lua: string, fn: string, keys: string[] = []): Promise<string[][]> {
  const sha = await load(lua);
  return [
    ['EVAL', lua, String(keys.length), ...keys],
    ['EVALSHA', sha, String(keys.length), ...keys],
    ['FCALL', fn, String(keys.length), ...keys],
  ];
}

t.test('a deny-DEL token cannot DEL from a script or a function; the key stays', async (t) => {
  await direct.set('k', 'v');
  for (const argv of await viaScripts("return redis.call('del', KEYS[1])", 'del_key', ['k'])) {
    const reply = await run(DENY_DEL, argv);
    t.equal(reply.status, 400, `${argv[0]} refused`);
    t.notOk('result' in reply.body, `${argv[0]} did not run DEL`);
  }
  t.equal(await direct.get('k'), 'v', 'data unchanged');
  // Its other scripts still run, with the rights it has.
  const set = await run(DENY_DEL, ['EVAL', "return redis.call('set', KEYS[1], 'w')", '1', 'k']);
  t.same(set, { status: 200, body: { result: 'OK' } });
  t.same((await run(DENY_DEL, ['FCALL', 'set_key', '1', 'k2', 'x'])).body, { result: 'OK' });
  t.equal(await direct.get('k'), 'w');
  t.equal(await direct.get('k2'), 'x');
});

t.test('the allow-list token cannot FLUSHDB through EVAL, EVALSHA or FCALL', async (t) => {
  await direct.set('keep', '1');
  for (const argv of await viaScripts("return redis.call('flushdb')", 'flush')) {
    const reply = await run(ALLOW, argv);
    t.equal(reply.status, 400, `${argv[0]} refused`);
  }
  t.equal(await direct.get('keep'), '1', 'nothing was flushed');
  t.same(
    (
      await run(ALLOW, [
        'EVAL',
        "redis.call('set', KEYS[1], 'a'); return redis.call('get', KEYS[1])",
        '1',
        'al',
      ])
    ).body,
    {
      result: 'a',
    },
  );
  // Top-level rights are still the broker's: a command outside the list is refused before Redis sees it.
  t.equal((await run(ALLOW, ['DEL', 'keep'])).body.code, 'SLUICE_ERR_AUTH_NOPERM');
});

t.test(
  'a read-write token cannot run admin commands (SLOWLOG GET) from scripts; read-only neither',
  async (t) => {
    for (const argv of await viaScripts("return redis.call('slowlog', 'get')", 'slowlog')) {
      const reply = await run(READWRITE, argv);
      t.equal(reply.status, 400, `${argv[0]} refused`);
      t.notOk('result' in reply.body);
    }
    t.same((await run(READWRITE, ['EVAL', "return redis.call('incr', KEYS[1])", '1', 'n'])).body, {
      result: 1,
    });
    // EVAL_RO refuses writes by itself, but not admin reads.
    const ro = await run(READONLY_TOKEN, ['EVAL_RO', "return redis.call('slowlog', 'len')", '0']);
    t.equal(ro.status, 400, 'read-only EVAL_RO of SLOWLOG LEN refused');
    t.same((await run(READONLY_TOKEN, ['EVAL_RO', "return redis.call('get', KEYS[1])", '1', 'n'])).body, {
      result: '1',
    });
    // The admin token is unchanged: its scripts run on the broker's own connections.
    t.equal((await run(TOKEN, ['EVAL', "return type(redis.call('slowlog', 'get'))", '0'])).status, 200);
  },
);

t.test('a pipeline or transaction with a script runs whole, in order', async (t) => {
  const piped = await post(
    broker.url,
    '/pipeline',
    [
      ['SET', 'p', '1'],
      ['EVAL', "return redis.call('get', KEYS[1])", '1', 'p'],
      ['EVAL', "return redis.call('del', KEYS[1])", '1', 'p'],
      ['GET', 'p'],
    ],
    as(DENY_DEL),
  );
  const items = piped.body as { result?: unknown; error?: string }[];
  t.same(items.slice(0, 2), [{ result: 'OK' }, { result: '1' }]);
  t.ok(items[2]?.error, 'DEL inside the script refused');
  t.same(items[3], { result: '1' });
  const multi = await post(
    broker.url,
    '/multi-exec',
    [
      ['SET', 'm', 'a'],
      ['EVAL', "return redis.call('get', KEYS[1])", '1', 'm'],
    ],
    as(ALLOW),
  );
  t.same(multi.body, [{ result: 'OK' }, { result: 'a' }]);
});

t.test('a WebSocket keeps its order when its first script moves it to the ACL user connection', async (t) => {
  const peer = await Peer.open(broker.url, { token: READWRITE });
  t.teardown(() => peer.close());
  const replies: Promise<Record<string, unknown>>[] = [peer.request({ cmd: ['SET', 'ws-n', '0'] })];
  for (let i = 0; i < 200; i++) replies.push(peer.request({ cmd: ['INCR', 'ws-n'] }));
  replies.push(peer.request({ cmd: ['EVAL', "return redis.call('get', KEYS[1])", '1', 'ws-n'] }));
  replies.push(peer.request({ cmd: ['INCR', 'ws-n'] }));
  replies.push(peer.request({ cmd: ['EVAL', "return redis.call('slowlog', 'get')", '0'] }));
  const all = await Promise.all(replies);
  t.same(all[201], { id: 202, result: '200' }, 'the script saw every earlier INCR');
  t.same(all[202], { id: 203, result: 201 }, 'and the next INCR came after it');
  t.ok(all[203]?.error, 'admin command in the script refused');
});

t.test('@upstash/ratelimit works with an allow list that names what its scripts call', async (t) => {
  const limit = (token: string) =>
    new Ratelimit({
      redis: new Upstash({ url: broker.url, token, enableAutoPipelining: false }),
      limiter: Ratelimit.slidingWindow(3, '30 s'),
      prefix: `rl-${token}`,
      ephemeralCache: false,
    });
  const ratelimit = limit(RATELIMIT);
  const results = [];
  for (let i = 0; i < 5; i++) results.push((await ratelimit.limit('user')).success);
  t.same(results, [true, true, true, false, false]);
  // The allow-list token lacks INCRBY: its script is refused by Redis, not run with more rights.
  await t.rejects(limit(ALLOW).limit('user'));
});

t.test('the ACL users: one per profile, a strong password, no one else gets in', async (t) => {
  const users = ((await direct.call('ACL', 'USERS')) as string[]).filter((u) => u.startsWith('sluice-'));
  t.ok(users.length >= 3, `users: ${users.join(', ')}`);
  for (const user of users) {
    const info = (await direct.call('ACL', 'GETUSER', user)) as unknown[];
    const flags = info[info.indexOf('flags') + 1] as string[];
    t.notOk(flags.includes('nopass'), `${user} needs a password`);
    await t.rejects(direct.call('AUTH', user, ''), /WRONGPASS/);
  }
});

t.test(
  'without ACL SETUSER, restricted scripts are refused with the catalogue error; admin unaffected',
  async (t) => {
    await direct.call('ACL', 'SETUSER', 'no-acl', 'on', '>no-acl-pass', '~*', '&*', '+@all', '-acl');
    const url = redis.url.replace('redis://', 'redis://no-acl:no-acl-pass@');
    const limited = await startTestBroker(url, { tokens: TOKENS });
    t.teardown(() => limited.close());
    for (const token of [DENY_DEL, ALLOW, READWRITE]) {
      const reply = await post(limited.url, '/', ['EVAL', "return redis.call('get', 'k')", '0'], as(token));
      t.equal(reply.status, 400);
      t.equal((reply.body as { code: string }).code, 'SLUICE_ERR_AUTH_SCRIPT_REFUSED', token);
    }
    const fcall = await post(limited.url, '/', ['FCALL', 'del_key', '1', 'k'], as(DENY_DEL));
    t.equal((fcall.body as { code: string }).code, 'SLUICE_ERR_AUTH_SCRIPT_REFUSED');
    t.equal(await direct.get('k'), 'w', 'data unchanged');
    const admin = await post(limited.url, '/', ['EVAL', "return redis.call('get', 'k')", '0']);
    t.same(admin.body, { result: 'w' });
    // Plain commands of restricted tokens are unaffected.
    t.same((await post(limited.url, '/', ['GET', 'k'], as(ALLOW))).body, { result: 'w' });
  },
);

t.test('after Redis restarts (and loses its ACL users) the users are made again', async (t) => {
  await redis.kill();
  await redis.restart();
  // The main pool reconnects with backoff; wait until plain commands pass again.
  for (let i = 0; i < 100; i++) {
    if ((await run(READWRITE, ['PING'])).status === 200) break;
    await sleep(50);
  }
  t.same((await run(READWRITE, ['EVAL', "return redis.call('set', KEYS[1], 'again')", '1', 'r'])).body, {
    result: 'OK',
  });
  t.equal((await run(READWRITE, ['EVAL', "return redis.call('slowlog', 'get')", '0'])).status, 400);
});
