// parseJson: exact big integers, otherwise the same values as JSON.parse.

import t from 'tap';
import { type JsonValue, parseJson } from '../client/json.js';

const exact: Array<[string, JsonValue]> = [
  ['{"result":9007199254740991}', { result: 9007199254740991 }],
  ['{"result":9007199254740992}', { result: 9007199254740992n }],
  ['{"result":-9223372036854775808}', { result: -9223372036854775808n }],
  ['{"result":9223372036854775807}', { result: 9223372036854775807n }],
  [
    '[{"result":12345678901234567890},{"error":"ERR x"}]',
    [{ result: 12345678901234567890n }, { error: 'ERR x' }],
  ],
  ['{"result":[1,[2,18446744073709551615],null]}', { result: [1, [2, 18446744073709551615n], null] }],
  ['{"result":"12345678901234567890"}', { result: '12345678901234567890' }],
  ['{"result":1234567890123456.5}', { result: 1234567890123456.5 }],
  ['{"result":12345678901234567e3}', { result: 12345678901234567e3 }],
  [
    '{"a":"x\\"1234567890123456\\\\","b":[true,false,null]}',
    { a: 'x"1234567890123456\\', b: [true, false, null] },
  ],
  [' [ 1 , -0 , "\\u00e9" , {} , [] ] 1234567890123456 '.slice(0, -18), [1, -0, 'é', {}, []]],
  ['[12345678901234567,"é\\n"]', [12345678901234567n, 'é\n']],
];

t.test('integers beyond 2^53 are exact bigints; everything else as JSON.parse', async (t) => {
  for (const [text, want] of exact) t.strictSame(parseJson(text), want, text);
});

t.test('safe integers stay numbers, not bigints', async (t) => {
  t.equal(typeof (parseJson('[9007199254740991, 1234567890123456]') as number[])[0], 'number');
  t.equal(typeof (parseJson('[-9007199254740992, 1234567890123456]') as bigint[])[0], 'bigint');
});

t.test('text without a 16-digit run takes the JSON.parse path and agrees', async (t) => {
  for (const text of ['{"result":"OK"}', '[1,2,3]', 'null', '"a"', '{"result":123456789012345}']) {
    t.strictSame(parseJson(text), JSON.parse(text), text);
  }
});

t.test('malformed input throws SyntaxError on both paths', async (t) => {
  for (const text of [
    '',
    '{',
    '[1,]',
    '{"a" 1}',
    '[12345678901234567',
    '[12345678901234567,]',
    '12345678901234567 x',
    '{"a":12345678901234567',
    '["1234567890123456',
    '[01234567890123456]',
    'nul 1234567890123456',
  ]) {
    t.throws(() => parseJson(text), SyntaxError, JSON.stringify(text));
  }
});
