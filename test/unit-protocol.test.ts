// Pure protocol pieces, as tables of inputs and outputs: reply encoding, request parsing, path style, classification, scripts.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { percentDecode, pathCommand, queryArgs } from '../broker/http/path-style.js';
import { classify } from '../broker/protocol/classify.js';
import { replyJson, replyResp2 } from '../broker/protocol/reply.js';
import { parseCommand, parseCommandList, decodeBase64 } from '../broker/protocol/request.js';
import { normaliseScript, ScriptAliases } from '../broker/protocol/scripts.js';
import { buildCommandTable, lookupCommand } from '../broker/protocol/command-table.js';
import { isSluiceError } from '../broker/errors.js';

const b = (s: string) => Buffer.from(s);

t.test('replyJson follows the Upstash base64 rules', async (t) => {
  const cases: [Parameters<typeof replyJson>[0], boolean, string][] = [
    [null, true, 'null'],
    ['12345678901234567890', true, '12345678901234567890'],
    [b('OK'), true, '"OK"'],
    [b('OK'), false, '"OK"'],
    [b('bar'), true, '"YmFy"'],
    [b('bar'), false, '"bar"'],
    [[b('OK'), '1', null, [b('x')]], true, '["T0s=",1,null,["eA=="]]'],
    [[b('OK'), '1'], false, '["OK",1]'],
    [b('say "hi"\n'), false, '"say \\"hi\\"\\n"'],
    [Buffer.from([0xff]), false, '"\ufffd"'],
    [[new Error('ERR inner')], false, '["ERR inner"]'],
  ];
  for (const [value, base64, expected] of cases) t.equal(replyJson(value, base64), expected, `${expected}`);
});

t.test('replyResp2 writes RESP2', async (t) => {
  t.equal(replyResp2(b('OK')).toString(), '+OK\r\n');
  t.equal(replyResp2(b('bar')).toString(), '$3\r\nbar\r\n');
  t.equal(replyResp2(null).toString(), '$-1\r\n');
  t.equal(replyResp2('5').toString(), ':5\r\n');
  t.equal(replyResp2([b('OK'), '1']).toString(), '*2\r\n$2\r\nOK\r\n:1\r\n');
  t.equal(replyResp2(new Error('ERR x')).toString(), '-ERR x\r\n');
});

t.test('parseCommand accepts strings, numbers, booleans; refuses the rest with a message', async (t) => {
  t.same(parseCommand(['SET', 'k', 1.5, true, 1e21], 'body'), ['SET', 'k', '1.5', 'true', '1e+21']);
  t.same(parseCommand(['SET', 'aGk='], 'body', true), ['SET', Buffer.from('hi')]);
  for (const bad of [null, {}, [], [1], [''], ['set', null], ['set', ['x']], ['set', { a: 1 }], 'get']) {
    t.throws(
      () => parseCommand(bad, 'body'),
      { code: 'SLUICE_ERR_REQUEST_BAD_COMMAND' },
      JSON.stringify(bad),
    );
  }
  t.throws(() => parseCommandList([['get', 'a'], ['get']].slice(0, 2), 1), {
    code: 'SLUICE_ERR_REQUEST_TOO_MANY_COMMANDS',
  });
  t.throws(() => decodeBase64('not base64!', 'x'), { code: 'SLUICE_ERR_REQUEST_BAD_COMMAND' });
});

t.test('path style', async (t) => {
  t.same(pathCommand('/set/k/v', 'EX=100&_token=x&NX', undefined), ['set', 'k', 'v', 'EX', '100', 'NX']);
  t.same(pathCommand('/set/k', 'EX=1', b('body')), ['set', 'k', b('body'), 'EX', '1']);
  t.same(percentDecode('a%20b%F0%9F%9A%80'), b('a b🚀'));
  t.equal(percentDecode('a+b'), 'a+b');
  t.same(queryArgs('a=%2F&&b'), ['a', b('/'), 'b']);
  for (const bad of ['%', '%2', '%zz', 'a%g1']) {
    t.throws(() => percentDecode(bad), { code: 'SLUICE_ERR_HTTP_BAD_PATH' }, bad);
  }
});

const table = buildCommandTable([
  [b('blpop'), '-3', [b('write'), b('blocking')]],
  [b('xread'), '-4', [b('readonly'), b('blocking')]],
  [b('get'), '2', [b('readonly'), b('fast')]],
  [b('config'), '-2', [], '0', '0', '0', [], [], [], [[b('config|get'), '-3', [b('admin'), b('noscript')]]]],
]);

t.test('classification', async (t) => {
  t.same(classify('get', [], table.get('get')), { route: 'main' });
  t.same(classify('blpop', ['k', '0'], table.get('blpop')), { route: 'blocking' });
  t.same(classify('xread', ['COUNT', '1', 'STREAMS', 'k', '0'], table.get('xread')), { route: 'main' });
  t.same(classify('xread', ['BLOCK', '0', 'STREAMS', 'k', '0'], table.get('xread')), { route: 'blocking' });
  t.same(
    classify('xread', ['STREAMS', 'block', '0'], table.get('xread')),
    { route: 'main' },
    'a key named block',
  );
  t.same(classify('wait', ['1', '0'], undefined), { route: 'blocking' });
  for (const name of ['select', 'multi', 'subscribe', 'monitor', 'client', 'shutdown', 'debug', 'auth']) {
    t.ok('refused' in classify(name, [], undefined), name);
  }
  t.equal(lookupCommand(table, 'config', 'GET')?.name, 'config|get');
  t.ok(lookupCommand(table, 'config', 'GET')?.flags.has('admin'));
  t.equal(lookupCommand(table, 'config', 'nosuch')?.name, 'config');
});

t.test('script shebang flags', async (t) => {
  t.equal(normaliseScript('return 1'), undefined);
  t.equal(normaliseScript('#!lua\nreturn 1'), undefined);
  t.equal(normaliseScript('#!lua flags=no-writes\nreturn 1'), undefined);
  t.equal(normaliseScript('#!lua flags=allow-key-locking\nreturn 1'), '#!lua\nreturn 1');
  t.equal(
    normaliseScript('#!lua flags=allow-key-locking,no-writes\nreturn 1'),
    '#!lua flags=no-writes\nreturn 1',
  );
  const aliases = new ScriptAliases(2);
  const source = '#!lua flags=allow-key-locking\nreturn 1';
  const sha = (s: string) => createHash('sha1').update(s).digest('hex');
  const fixed = aliases.normalise(source);
  t.equal(fixed?.originalSha, sha(source));
  t.equal(aliases.resolve(sha(source)), sha('#!lua\nreturn 1'));
  t.equal(aliases.resolve('unknown'), 'unknown');
  aliases.normalise('#!lua flags=x\nreturn 2');
  aliases.normalise('#!lua flags=x\nreturn 3');
  t.equal(aliases.resolve(sha(source)), sha(source), 'bounded: the oldest alias is forgotten');
});

t.test('errors come from the catalogue', async (t) => {
  try {
    parseCommand(null, 'body');
  } catch (error) {
    t.ok(isSluiceError(error));
  }
});

t.test(
  'replyJson: any bytes read as the JSON of their UTF-8 text, quoted as they are only when that is the same',
  async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ minLength: 0, maxLength: 40, min: 0x20, max: 0x7e }),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
    );
    fc.assert(
      fc.property(bytes, (array) => {
        const value = Buffer.from(array);
        const json = replyJson(value, false);
        return (
          json === JSON.stringify(value.toString('utf8')) &&
          JSON.parse(`[${json}]`)[0] === value.toString('utf8')
        );
      }),
      { seed: 7, numRuns: 2000 },
    );
  },
);
