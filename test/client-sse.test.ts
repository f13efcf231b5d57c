// The SSE line parser of subscription streams (docs/rest-api.md, pub/sub).

import t from 'tap';
import { type SseEvent, SseParser, parseSseLine } from '../client/sse.js';

t.test('parseSseLine', async (t) => {
  const table: Array<[string, SseEvent | undefined]> = [
    ['data: subscribe,chat,1', { type: 'subscribe', channel: 'chat', count: 1 }],
    ['data: psubscribe,ne*,1', { type: 'psubscribe', channel: 'ne*', count: 1 }],
    ['data: unsubscribe,chat,0', { type: 'unsubscribe', channel: 'chat', count: 0 }],
    ['data: message,chat,hello', { type: 'message', channel: 'chat', data: 'hello' }],
    ['data: message,chat,a,b,c', { type: 'message', channel: 'chat', data: 'a,b,c' }],
    ['data: message,chat,', { type: 'message', channel: 'chat', data: '' }],
    ['data: message,a/b,x\r', { type: 'message', channel: 'a/b', data: 'x\r' }],
    [
      'data: pmessage,ne*,news,{"a":1}',
      { type: 'pmessage', pattern: 'ne*', channel: 'news', data: '{"a":1}' },
    ],
    ['data: pmessage,ne*,news,a,b', { type: 'pmessage', pattern: 'ne*', channel: 'news', data: 'a,b' }],
    ['data: pmessage,ne*,news', undefined],
    ['data: subscribe,chat,x', undefined],
    ['data: message,chat', undefined],
    ['data: other,a,b', undefined],
    ['data:message,chat,hi', undefined],
    [': keepalive', undefined],
    ['', undefined],
    ['event: message', undefined],
  ];
  for (const [line, want] of table) t.same(parseSseLine(line), want, JSON.stringify(line));
});

t.test('SseParser joins lines across chunks', async (t) => {
  const p = new SseParser();
  t.same(p.push('data: subscribe,c,1\n\n: keep'), [{ type: 'subscribe', channel: 'c', count: 1 }]);
  t.same(p.push('alive\n\ndata: mess'), []);
  t.same(p.push('age,c,hé'), []);
  t.same(p.push('llo\ndata: message,c,2\n'), [
    { type: 'message', channel: 'c', data: 'héllo' },
    { type: 'message', channel: 'c', data: '2' },
  ]);
});

t.test('SseParser bounds an unfinished line', async (t) => {
  const p = new SseParser(10);
  t.same(p.push('data: 1234'), []);
  t.throws(() => p.push('567'), RangeError);
});
