// Pure tests of the /ws frame parser and reply writers: tables of inputs and outputs, no sockets.
import { ReplyError } from 'ioredis';
import t from 'tap';
import { SluiceError } from '../broker/errors.js';
import {
  countsFrame,
  errorFrame,
  parseFrame,
  pushFrame,
  resultFrame,
  resultsFrame,
  wantsBase64,
} from '../broker/ws/ws-messages.js';
import { closeCodeOf, closeReason } from '../broker/ws/close.js';

t.test('requests parse into typed commands', async (t) => {
  const cmd = parseFrame('{"id":1,"cmd":["SET","k","v",5,true]}', 10);
  t.same(cmd, {
    kind: 'commands',
    op: 'cmd',
    idJson: '1',
    commands: [['SET', 'k', 'v', '5', 'true']],
    deadlineMs: undefined,
  });
  const pipeline = parseFrame('{"id":"a","pipeline":[["GET","k"],["INCR","n"]],"deadlineMs":250}', 10);
  t.same(pipeline, {
    kind: 'commands',
    op: 'pipeline',
    idJson: '"a"',
    commands: [
      ['GET', 'k'],
      ['INCR', 'n'],
    ],
    deadlineMs: 250,
  });
  const multi = parseFrame('{"id":3,"multi":[["SET","aw==","dg=="]],"argEncoding":"base64"}', 10);
  t.equal(multi.kind === 'commands' && multi.op, 'multi');
  if (multi.kind === 'commands') t.same(multi.commands[0], ['SET', Buffer.from('k'), Buffer.from('v')]);
  const sub = parseFrame('{"id":4,"psubscribe":["news.*"]}', 10);
  t.same(sub, {
    kind: 'subscription',
    op: 'psubscribe',
    subscriptionKind: 'pattern',
    idJson: '4',
    names: ['news.*'],
  });
  const unsubAll = parseFrame('{"id":5,"unsubscribe":[]}', 10);
  t.same(unsubAll.kind === 'subscription' && unsubAll.names, []);
});

t.test('argEncoding base64 decodes every argument after the name', async (t) => {
  const frame = parseFrame(
    JSON.stringify({
      id: 1,
      cmd: ['SET', Buffer.from('k').toString('base64'), Buffer.from([0, 255]).toString('base64')],
      argEncoding: 'base64',
    }),
    10,
  );
  t.equal(frame.kind, 'commands');
  if (frame.kind !== 'commands') return;
  const [name, key, value] = frame.commands[0]!;
  t.equal(name, 'SET');
  t.same(key, Buffer.from('k'));
  t.same(value, Buffer.from([0, 255]));
});

const refused: [string, string][] = [
  ['{"id":1}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"get":["k"]}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"cmd":["GET","k"],"pipeline":[["GET","k"]]}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"cmd":"GET k"}', 'SLUICE_ERR_REQUEST_BAD_COMMAND'],
  ['{"id":1,"cmd":[]}', 'SLUICE_ERR_REQUEST_BAD_COMMAND'],
  ['{"id":1,"cmd":["GET",{"a":1}]}', 'SLUICE_ERR_REQUEST_BAD_COMMAND'],
  ['{"id":1,"pipeline":[]}', 'SLUICE_ERR_REQUEST_BAD_COMMAND'],
  ['{"id":1,"pipeline":[["GET","a"],["GET","b"],["GET","c"]]}', 'SLUICE_ERR_REQUEST_TOO_MANY_COMMANDS'],
  ['{"id":1,"cmd":["SET","k","not base64!"],"argEncoding":"base64"}', 'SLUICE_ERR_REQUEST_BAD_COMMAND'],
  ['{"id":1,"cmd":["GET","k"],"argEncoding":"hex"}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"cmd":["GET","k"],"deadlineMs":0}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"cmd":["GET","k"],"deadlineMs":1.5}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"subscribe":[]}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"subscribe":"news"}', 'SLUICE_ERR_WS_BAD_REQUEST'],
  ['{"id":1,"subscribe":[1]}', 'SLUICE_ERR_WS_BAD_REQUEST'],
];

t.test('a bad request with an id is refused with that id', async (t) => {
  for (const [text, code] of refused) {
    const frame = parseFrame(text, 2);
    t.equal(frame.kind, 'refused', text);
    if (frame.kind === 'refused') {
      t.equal(frame.idJson, '1', text);
      t.equal(frame.error.code, code, text);
    }
  }
});

t.test('a frame without a usable id is fatal', async (t) => {
  for (const text of [
    'not json',
    '[1,2]',
    '"x"',
    'null',
    '{"cmd":["GET","k"]}',
    '{"id":null,"cmd":["GET","k"]}',
    '{"id":{},"cmd":["GET","k"]}',
    '{"id":true}',
  ]) {
    const frame = parseFrame(text, 10);
    t.equal(frame.kind, 'fatal', text);
    if (frame.kind === 'fatal') t.equal(frame.error.code, 'SLUICE_ERR_WS_BAD_FRAME', text);
  }
});

t.test('replies echo the id and follow the encoding rules', async (t) => {
  t.equal(resultFrame('1', Buffer.from('OK'), false), '{"id":1,"result":"OK"}');
  t.equal(resultFrame('1', Buffer.from('OK'), true), '{"id":1,"result":"OK"}');
  t.equal(resultFrame('"x"', Buffer.from('v'), true), '{"id":"x","result":"dg=="}');
  t.equal(resultFrame('2', '42', false), '{"id":2,"result":42}');
  t.equal(resultFrame('2', null, false), '{"id":2,"result":null}');
  t.equal(resultFrame('2', [Buffer.from('a'), '1', null], true), '{"id":2,"result":["YQ==",1,null]}');
  t.equal(countsFrame('3', [1, 2]), '{"id":3,"result":[1,2]}');
  t.same(JSON.parse(errorFrame('4', new SluiceError('SLUICE_ERR_WS_MAX_INFLIGHT', 'ERR too many'))), {
    id: 4,
    error: 'ERR too many',
    code: 'SLUICE_ERR_WS_MAX_INFLIGHT',
  });
  t.same(JSON.parse(errorFrame('null', new ReplyError('WRONGTYPE nope'))), {
    id: null,
    error: 'WRONGTYPE nope',
    code: 'SLUICE_ERR_REDIS',
  });
  t.same(JSON.parse(resultsFrame('5', [Buffer.from('OK'), new ReplyError('ERR bad')], false)), {
    id: 5,
    results: [{ result: 'OK' }, { error: 'ERR bad', code: 'SLUICE_ERR_REDIS' }],
  });
});

t.test('pushes', async (t) => {
  const message = { channel: Buffer.from('c'), data: Buffer.from([0xff, 0x00]) };
  t.same(JSON.parse(pushFrame(message, true)), { type: 'message', channel: 'c', data: '/wA=' });
  t.same(JSON.parse(pushFrame({ channel: Buffer.from('c'), data: Buffer.from('hi') }, false)), {
    type: 'message',
    channel: 'c',
    data: 'hi',
  });
  t.same(JSON.parse(pushFrame({ ...message, pattern: Buffer.from('c*'), data: Buffer.from('hi') }, false)), {
    type: 'pmessage',
    pattern: 'c*',
    channel: 'c',
    data: 'hi',
  });
});

t.test('upgrade query and close reasons', async (t) => {
  t.equal(wantsBase64('encoding=base64'), true);
  t.equal(wantsBase64('_token=x&encoding=base64'), true);
  t.equal(wantsBase64('_token=x'), false);
  t.equal(wantsBase64(''), false);
  const long = new SluiceError('SLUICE_ERR_WS_SLOW_READER', `ERR ${'é'.repeat(200)}`);
  const reason = closeReason(long);
  t.ok(Buffer.byteLength(reason) <= 123);
  t.match(reason, /^SLUICE_ERR_WS_SLOW_READER /);
  t.equal(closeCodeOf(long), 1013);
  t.equal(closeCodeOf(new SluiceError('SLUICE_ERR_WS_BINARY_FRAME', 'ERR x')), 1003);
  t.equal(closeCodeOf(new SluiceError('SLUICE_ERR_DRAINING', 'ERR x')), 1001);
  t.equal(closeCodeOf(new Error('x')), 1011);
});
