// WebSocket frames (docs/websocket.md) and argument encoding: built and read as pure functions.

import t from 'tap';
import { type Arg, base64Arg, encodeCommands, plainArg } from '../client/args.js';
import {
  type IncomingFrame,
  buildRequestFrame,
  buildSubscribeFrame,
  parseIncomingFrame,
} from '../client/frames.js';

t.test('plainArg and base64Arg', async (t) => {
  const plain: Array<[Arg, string | number | boolean | undefined]> = [
    ['v', 'v'],
    [1.5, 1.5],
    [true, true],
    [12345678901234567890n, '12345678901234567890'],
    [new Uint8Array([0xc3, 0xa9]), 'é'],
    [new Uint8Array([0xff]), undefined],
  ];
  for (const [arg, want] of plain) t.equal(plainArg(arg), want, String(arg));
  const b64: Array<[Arg, string]> = [
    ['bar', 'YmFy'],
    [10, 'MTA='],
    [false, 'ZmFsc2U='],
    [18446744073709551615n, 'MTg0NDY3NDQwNzM3MDk1NTE2MTU='],
    [new Uint8Array([0xff, 0]), '/wA='],
  ];
  for (const [arg, want] of b64) t.equal(base64Arg(arg), want, String(arg));
});

t.test('encodeCommands switches the whole frame to base64 when any argument is bytes', async (t) => {
  t.same(encodeCommands([['SET', 'k', 1n]]), { commands: [['SET', 'k', '1']] });
  t.same(
    encodeCommands([
      ['get', 'a'],
      ['SET', 'k', new Uint8Array([0xff])],
    ]),
    {
      commands: [
        ['get', 'YQ=='],
        ['SET', 'aw==', '/w=='],
      ],
      argEncoding: 'base64',
    },
  );
});

t.test('buildRequestFrame', async (t) => {
  const table: Array<[Parameters<typeof buildRequestFrame>, string]> = [
    [[1, 'cmd', [['SET', 'k', 'v']]], '{"id":1,"cmd":["SET","k","v"]}'],
    [
      [
        2,
        'pipeline',
        [
          ['SET', 'a', 1],
          ['INCR', 'a'],
        ],
      ],
      '{"id":2,"pipeline":[["SET","a",1],["INCR","a"]]}',
    ],
    [[3, 'multi', [['INCR', 'a']]], '{"id":3,"multi":[["INCR","a"]]}'],
    [[4, 'cmd', [['GET', 'k']], 250], '{"id":4,"cmd":["GET","k"],"deadlineMs":250}'],
    [
      [5, 'cmd', [['SET', 'k', new Uint8Array([0, 255])]]],
      '{"id":5,"cmd":["SET","aw==","AP8="],"argEncoding":"base64"}',
    ],
  ];
  for (const [args, want] of table) t.equal(buildRequestFrame(...args), want, want);
  t.equal(buildSubscribeFrame(6, 'subscribe', ['ch']), '{"id":6,"subscribe":["ch"]}');
  t.equal(buildSubscribeFrame(7, 'punsubscribe', ['p*']), '{"id":7,"punsubscribe":["p*"]}');
});

t.test('parseIncomingFrame', async (t) => {
  const table: Array<[string, IncomingFrame | undefined]> = [
    ['{"id":1,"result":"T0s="}', { id: 1, item: { result: 'T0s=' } }],
    ['{"id":"a","result":null}', { id: 'a', item: { result: null } }],
    ['{"id":1,"result":9223372036854775807}', { id: 1, item: { result: 9223372036854775807n } }],
    ['{"id":1,"error":"WRONGTYPE x"}', { id: 1, item: { error: 'WRONGTYPE x', code: undefined } }],
    [
      '{"id":1,"error":"full","code":"SLUICE_ERR_QUEUE_FULL"}',
      { id: 1, item: { error: 'full', code: 'SLUICE_ERR_QUEUE_FULL' } },
    ],
    ['{"id":null,"error":"bad frame"}', { id: null, item: { error: 'bad frame', code: undefined } }],
    ['{"error":"bad frame"}', { id: null, item: { error: 'bad frame', code: undefined } }],
    [
      '{"id":2,"results":[{"result":"T0s="},{"error":"ERR x"}]}',
      { id: 2, items: [{ result: 'T0s=' }, { error: 'ERR x', code: undefined }] },
    ],
    [
      '{"type":"message","channel":"c","data":"aGk="}',
      { push: { type: 'message', channel: 'c', data: 'aGk=' } },
    ],
    [
      '{"type":"pmessage","pattern":"c*","channel":"c1","data":"aGk="}',
      { push: { type: 'pmessage', pattern: 'c*', channel: 'c1', data: 'aGk=' } },
    ],
    ['{"type":"pmessage","channel":"c1","data":"x"}', undefined],
    ['{"id":2,"results":[{"nope":1}]}', undefined],
    ['{"id":3}', undefined],
    ['{"result":1}', undefined],
    ['[1]', undefined],
  ];
  for (const [text, want] of table) t.strictSame(parseIncomingFrame(text), want, text);
  t.throws(() => parseIncomingFrame('{"id":1,'), SyntaxError);
});
