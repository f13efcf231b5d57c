// The hand-read fast path for plain commands (`["GET","k"]` bodies, `{"id":1,"cmd":[…]}` frames) gives exactly what
// JSON.parse and the checks after it give, for any text: the same arguments, ids and errors.
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { parseCommand, parseCommandBody, parseJson, readPlainStrings } from '../broker/protocol/request.js';
import { parseFrame, parseJsonFrame } from '../broker/ws/ws-messages.js';

/** What a call returned, or the message it threw: both ways must agree on either. */
function outcome<T>(run: () => T): T | { threw: string } {
  try {
    return run();
  } catch (error) {
    return { threw: (error as Error).message };
  }
}

/** Strings of the characters that decide the fast path's choices: quotes, escapes, brackets, commas, digits. */
const tricky = fc.string({
  unit: fc.constantFrom(
    'a',
    'Z',
    ' ',
    '"',
    '\\',
    ',',
    '[',
    ']',
    '{',
    '}',
    ':',
    '0',
    '1',
    '9',
    '-',
    '.',
    'é',
    '\n',
    '\u0000',
    '\u007f',
  ),
  maxLength: 8,
});
const anyString = fc.oneof(tricky, fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }));
const argument = fc.oneof(anyString, anyString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const command = fc.array(argument, { maxLength: 5 });
const id = fc.oneof(
  fc.nat(),
  fc.integer({ min: -1e6, max: 1e6 }),
  fc.constantFrom(0, -0, 1e15, 999999999999999, 1e16, 2 ** 53 + 2, 1.5, 1e21),
  anyString,
);

/** Text near the JSON of `value`: as written, or with one character inserted, removed or replaced. */
function nearby(json: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    json,
    fc
      .tuple(json, fc.nat(), fc.constantFrom('"', '\\', ',', ']', '}', ' ', '0', 'x', '\u00e9'))
      .map(([text, at, c]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + c + text.slice(i);
      }),
    fc.tuple(json, fc.nat()).map(([text, at]) => {
      const i = at % Math.max(1, text.length);
      return text.slice(0, i) + text.slice(i + 1);
    }),
  );
}

t.test('readPlainStrings reads plain string lists and declines the rest', async (t) => {
  t.same(readPlainStrings('["GET","k"]', 1, 10), ['GET', 'k']);
  t.same(readPlainStrings('["SET","k",""]', 1, 13), ['SET', 'k', '']);
  t.same(readPlainStrings('["a]b","c,d"]', 1, 12), ['a]b', 'c,d']);
  t.equal(readPlainStrings('["GET","k"]', 1, 9), undefined, 'the ] elsewhere');
  t.equal(readPlainStrings('["GET", "k"]', 1, 11), undefined, 'whitespace');
  t.equal(readPlainStrings('["GET","\\n"]', 1, 11), undefined, 'an escape');
  t.equal(readPlainStrings('["GET",1]', 1, 8), undefined, 'a number');
  t.equal(readPlainStrings('["GET","é"]', 1, 10), undefined, 'beyond ASCII');
  t.equal(readPlainStrings('[]', 1, 1), undefined, 'empty');
  t.equal(readPlainStrings('["GET"', 1, 6), undefined, 'cut short');
});

t.test('POST / bodies: the fast path agrees with JSON.parse and parseCommand', async (t) => {
  const agrees = (body: string) =>
    isDeepStrictEqual(
      outcome(() => parseCommandBody(body)),
      outcome(() => parseCommand(parseJson(body), 'body')),
    );
  fc.assert(fc.property(nearby(command.map((c) => JSON.stringify(c))), agrees), { numRuns: 20000 });
  fc.assert(fc.property(fc.string({ maxLength: 24 }), agrees), { numRuns: 5000 });
  t.pass('25,000 bodies agree');
});

t.test('cmd frames: the fast path agrees with the general way', async (t) => {
  const frame = fc
    .tuple(id, command, fc.boolean())
    .map(([frameId, cmd, extra]) =>
      JSON.stringify(extra ? { id: frameId, cmd, deadlineMs: 5 } : { id: frameId, cmd }),
    );
  fc.assert(
    fc.property(nearby(frame), (text) => isDeepStrictEqual(parseFrame(text, 100), parseJsonFrame(text, 100))),
    { numRuns: 20000 },
  );
  t.pass('20,000 frames agree');
});

t.test('cmd frame ids written by hand: leading zeros, signs, more digits than a double holds', async (t) => {
  const idText = fc.oneof(
    fc.stringMatching(/^-?[0-9]{1,20}$/),
    fc.constantFrom('9007199254740993', '999999999999999', '1000000000000000', '0', '-0', '00', '1e3', '1.0'),
  );
  fc.assert(
    fc.property(idText, (digits) => {
      const text = `{"id":${digits},"cmd":["GET","k"]}`;
      return isDeepStrictEqual(parseFrame(text, 100), parseJsonFrame(text, 100));
    }),
    { numRuns: 5000 },
  );
  t.pass('5,000 ids agree');
});

t.test('the fast path is taken for what JSON.stringify writes', async (t) => {
  // readPlainStrings accepting the arguments is what makes parseFrame and parseCommandBody skip JSON.parse
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: fc.constantFrom('a', '0', ' ', ']', ',', '{', '~'), maxLength: 6 }), {
        minLength: 1,
        maxLength: 5,
      }),
      (strings) => {
        const json = JSON.stringify(strings);
        return isDeepStrictEqual(readPlainStrings(json, 1, json.length - 1), strings);
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2,000 lists read by hand');
});
