// Tokens and rights: read-only against Redis's own COMMAND list, tokens-file entries, and start-up checks.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseTokensFile } from '../broker/protocol/auth.js';
import { post, READONLY_TOKEN, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const READWRITE = 'rights-test-readwrite';
const ALLOW_ONLY = 'rights-test-allow-get-set';
const DENY_DEL = 'rights-test-deny-del';
const READONLY_PING_DENIED = 'rights-test-readonly-deny';

const redis = await startRedis();
t.teardown(() => redis.stop());
const logLines: string[] = [];
const broker = await startTestBroker(redis.url, {
  logLines,
  tokens: [
    { token: READWRITE, name: 'rw', right: 'readwrite' },
    { token: ALLOW_ONLY, name: 'allow', right: 'readwrite', allow: ['GET', 'set'] },
    { token: DENY_DEL, name: 'deny', right: 'admin', deny: ['del', 'UNLINK'] },
    { token: READONLY_PING_DENIED, name: 'ro-deny', right: 'readonly', deny: ['ping'] },
  ],
});
t.teardown(() => broker.close());
const direct = redis.client();

/** One (sub)command from Redis's COMMAND reply, as an argument list that names it. */
interface Listed {
  readonly argv: string[];
  readonly flags: Set<string>;
}

/** Every command and subcommand the test's Redis knows, read from COMMAND (not hand-listed). */
async function listCommands(): Promise<Listed[]> {
  const reply = (await direct.call('COMMAND')) as unknown[][];
  const out: Listed[] = [];
  for (const entry of reply) {
    const name = String(entry[0]);
    const subs = entry[9];
    if (Array.isArray(subs) && subs.length > 0) {
      for (const sub of subs as unknown[][]) {
        const full = String(sub[0]); // container|sub
        out.push({
          argv: [name, full.slice(full.indexOf('|') + 1)],
          flags: new Set((sub[2] as string[]).map(String)),
        });
      }
    } else {
      out.push({ argv: [name], flags: new Set((entry[2] as string[]).map(String)) });
    }
  }
  return out;
}

const commands = await listCommands();

t.test('a read-only token is refused every write command in COMMAND, per pipeline item', async (t) => {
  const writes = commands.filter((c) => c.flags.has('write'));
  t.ok(writes.length > 50, `Redis lists ${writes.length} write commands`);
  const allowedWrites: string[] = [];
  for (const { argv } of writes) {
    const reply = await post(broker.url, '/pipeline', [argv], { Authorization: `Bearer ${READONLY_TOKEN}` });
    const item = (reply.body as { code?: string; error?: string }[] | undefined)?.[0];
    if (reply.status !== 200 || item?.code !== 'SLUICE_ERR_AUTH_NOPERM' || !item.error?.startsWith('NOPERM '))
      allowedWrites.push(`${argv.join(' ')} → ${reply.status} ${reply.text}`);
  }
  t.same(allowedWrites, [], 'every write command got NOPERM');
  // Nothing reached Redis: no key was created by any of them.
  t.equal(await direct.dbsize(), 0);
});

t.test('a read-only token runs every readonly command Redis lists (rights never refuse them)', async (t) => {
  const reads = commands.filter((c) => c.flags.has('readonly') && !c.flags.has('admin'));
  t.ok(reads.length > 30, `Redis lists ${reads.length} readonly commands`);
  const refused: string[] = [];
  for (const { argv } of reads) {
    const reply = await post(broker.url, '/pipeline', [argv], { Authorization: `Bearer ${READONLY_TOKEN}` });
    const item = (reply.body as { code?: string }[] | undefined)?.[0];
    if (item?.code === 'SLUICE_ERR_AUTH_NOPERM') refused.push(argv.join(' '));
  }
  t.same(refused, [], 'no readonly command got NOPERM');
  await direct.set('ro-key', 'v');
  const get = await post(broker.url, '/', ['GET', 'ro-key'], { Authorization: `Bearer ${READONLY_TOKEN}` });
  t.same(get.body, { result: 'v' });
  for (const extra of [['PING'], ['ECHO', 'hi']]) {
    const reply = await post(broker.url, '/', extra, { Authorization: `Bearer ${READONLY_TOKEN}` });
    t.equal(reply.status, 200, `${extra[0]} is allowed to read-only tokens`);
  }
});

t.test('read-only refusals on every REST route', async (t) => {
  const ro = { Authorization: `Bearer ${READONLY_TOKEN}` };
  const single = await post(broker.url, '/', ['SET', 'k', 'v'], ro);
  t.equal(single.status, 400);
  t.match(single.body, {
    code: 'SLUICE_ERR_AUTH_NOPERM',
    error: "NOPERM this user has no permissions to run the 'set' command",
  });
  const path = await fetch(`${broker.url}/set/k/v`, { headers: ro });
  t.equal(path.status, 400);
  t.match(await path.json(), { code: 'SLUICE_ERR_AUTH_NOPERM' });
  const tx = await post(
    broker.url,
    '/multi-exec',
    [
      ['GET', 'k'],
      ['DEL', 'k'],
    ],
    ro,
  );
  t.equal(tx.status, 400, 'a refused command discards the whole transaction');
  t.match(tx.body, { code: 'SLUICE_ERR_AUTH_NOPERM' });
  const mixed = await post(
    broker.url,
    '/pipeline',
    [
      ['GET', 'ro-key'],
      ['DEL', 'ro-key'],
      ['EVAL', 'return 1', '0'],
    ],
    ro,
  );
  t.match(mixed.body, [
    { result: 'v' },
    { code: 'SLUICE_ERR_AUTH_NOPERM' },
    { code: 'SLUICE_ERR_AUTH_NOPERM' },
  ]);
  t.equal(await direct.get('ro-key'), 'v', 'the refused DEL did not run');
});

t.test('tokens-file entries: allow and deny lists, readwrite vs admin', async (t) => {
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });
  const code = (r: { body: unknown }) => (r.body as { code?: string }).code;
  // allow: only GET and SET (case-insensitive names).
  t.equal((await post(broker.url, '/', ['SET', 'a', '1'], as(ALLOW_ONLY))).status, 200);
  t.same((await post(broker.url, '/', ['get', 'a'], as(ALLOW_ONLY))).body, { result: '1' });
  t.equal(code(await post(broker.url, '/', ['DEL', 'a'], as(ALLOW_ONLY))), 'SLUICE_ERR_AUTH_NOPERM');
  t.equal(code(await post(broker.url, '/', ['PING'], as(ALLOW_ONLY))), 'SLUICE_ERR_AUTH_NOPERM');
  // deny wins even over the admin right.
  t.equal(code(await post(broker.url, '/', ['DEL', 'a'], as(DENY_DEL))), 'SLUICE_ERR_AUTH_NOPERM');
  t.equal(code(await post(broker.url, '/', ['unlink', 'a'], as(DENY_DEL))), 'SLUICE_ERR_AUTH_NOPERM');
  t.equal((await post(broker.url, '/', ['CONFIG', 'GET', 'maxmemory'], as(DENY_DEL))).status, 200);
  t.equal(code(await post(broker.url, '/', ['PING'], as(READONLY_PING_DENIED))), 'SLUICE_ERR_AUTH_NOPERM');
  // readwrite: writes yes, admin-flagged commands no; the full token (admin) may.
  t.equal((await post(broker.url, '/', ['DEL', 'a'], as(READWRITE))).status, 200);
  t.equal(
    code(await post(broker.url, '/', ['CONFIG', 'GET', 'maxmemory'], as(READWRITE))),
    'SLUICE_ERR_AUTH_NOPERM',
  );
  t.equal(code(await post(broker.url, '/', ['SLOWLOG', 'GET'], as(READWRITE))), 'SLUICE_ERR_AUTH_NOPERM');
  t.equal((await post(broker.url, '/', ['CONFIG', 'GET', 'maxmemory'], as(TOKEN))).status, 200);
  // Unknown and missing tokens: 401.
  t.equal(code(await post(broker.url, '/', ['PING'], as('no-such-token'))), 'SLUICE_ERR_AUTH_INVALID');
  const missing = await fetch(`${broker.url}/`, { method: 'POST', body: '["PING"]' });
  t.equal(missing.status, 401);
  t.match(await missing.json(), { code: 'SLUICE_ERR_AUTH_MISSING' });
  t.equal((await fetch(`${broker.url}/ping?_token=${READWRITE}`)).status, 200, '?_token= works too');
});

t.test('tokens never reach the logs', async (t) => {
  const all = logLines.join('');
  t.ok(all.length > 0, 'the broker logged something');
  for (const token of [TOKEN, READONLY_TOKEN, READWRITE, ALLOW_ONLY, DENY_DEL, 'no-such-token'])
    t.notOk(all.includes(token), 'a token is not in the log');
});

t.test('parseTokensFile: a valid file', async (t) => {
  const parsed = parseTokensFile(
    JSON.stringify({
      tokens: [
        { token: 'aaaaaaaaaaaa', name: 'reader', right: 'readonly' },
        { token: 'bbbbbbbbbbbb', right: 'readwrite', allow: ['get', 'set'], deny: ['del'] },
        { token: 'cccccccccccc', name: 'ops', right: 'admin' },
      ],
    }),
  );
  t.same(parsed, {
    entries: [
      { token: 'aaaaaaaaaaaa', name: 'reader', right: 'readonly' },
      { token: 'bbbbbbbbbbbb', name: 'token#1', right: 'readwrite', allow: ['get', 'set'], deny: ['del'] },
      { token: 'cccccccccccc', name: 'ops', right: 'admin' },
    ],
  });
});

t.test('parseTokensFile: every problem is reported at once', async (t) => {
  const problems = (text: string) => {
    const parsed = parseTokensFile(text);
    return 'problems' in parsed ? parsed.problems : [];
  };
  t.equal(problems('{"tokens": [').length, 1, 'not JSON');
  t.equal(problems('[]').length, 1, 'not an object with tokens');
  t.equal(problems('{"tokens": {}}').length, 1, 'tokens is not a list');
  const many = problems(
    JSON.stringify({
      tokens: [
        { token: 'short', right: 'readonly' },
        { token: 'dddddddddddd', right: 'superuser' },
        { token: 'dddddddddddd', right: 'admin' },
        { token: 'eeeeeeeeeeee', right: 'readwrite', allow: 'get' },
        { token: 'ffffffffffff', right: 'readwrite', deny: [''] },
        { token: 'gggggggggggg', right: 'readwrite', alow: ['get'] },
        'not an object',
        { right: 'readonly' },
        { token: 'hhhhhhhhhhhh', right: 'readonly', name: 7 },
      ],
    }),
  );
  for (const where of [
    'tokens[0].token',
    'tokens[1].right',
    'tokens[2].token',
    'tokens[3].allow',
    'tokens[4].deny',
    'tokens[5]: unknown key',
    'tokens[6]',
    'tokens[7].token',
    'tokens[8].name',
  ])
    t.ok(
      many.some((p) => p.includes(where)),
      `reports ${where}`,
    );
});

t.test('a bad tokens file stops start-up with one message listing every problem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tokens-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ tokens: [{ token: 'iiiiiiiiiiii', right: 'root' }, { token: 'x' }] }));
  const main = fileURLToPath(new URL('../broker/main.ts', import.meta.url));
  const loader = new URL('../node_modules/@tapjs/typescript/dist/esm/import.mjs', import.meta.url).href;
  const child = spawn(
    process.execPath,
    [
      `--import=${loader}`,
      main,
      '--tokens-file',
      file,
      '--redis-url',
      redis.url,
      '--port',
      '0',
      '--admin-port',
      '0',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('SLUICE_'))),
    },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 1, 'exits with 1');
  t.match(stderr, /tokens\[0\]\.right/);
  t.match(stderr, /tokens\[1\]\.token/);
  t.notMatch(stderr, /iiiiiiiiiiii/, 'the token itself is not printed');
  t.equal(stderr.trim().split('\n').length, 1, 'one line');
});
