// Base64 and the reply decoding rules of `Upstash-Encoding: base64` (docs/rest-api.md).

import t from 'tap';
import { decodeBase64, encodeBase64, utf8DecodeExact } from '../client/base64.js';
import { type BinaryValue, type Value, decodeValue } from '../client/decode.js';
import type { JsonValue } from '../client/json.js';

const bytes = (...b: number[]) => new Uint8Array(b);

t.test('decodeBase64: canonical padded base64 only', async (t) => {
  const table: Array<[string, Uint8Array | undefined]> = [
    ['', bytes()],
    ['YmFy', bytes(0x62, 0x61, 0x72)],
    ['T0s=', bytes(0x4f, 0x4b)],
    ['/wA=', bytes(0xff, 0x00)],
    ['AP+A', bytes(0x00, 0xff, 0x80)],
    ['OK', undefined],
    ['PONG', bytes(0x3c, 0xe3, 0x46)],
    ['YmFy\n', undefined],
    ['Ym=y', undefined],
    ['Y', undefined],
    ['YQ', undefined],
    ['YQ==', bytes(0x61)],
    ['-_8=', undefined],
  ];
  for (const [text, want] of table) t.same(decodeBase64(text), want, JSON.stringify(text));
});

t.test('encodeBase64 round-trips every byte value and large buffers', async (t) => {
  const all = new Uint8Array(256).map((_, i) => i);
  t.same(decodeBase64(encodeBase64(all)), all);
  const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 255);
  t.same(decodeBase64(encodeBase64(big)), big);
  t.equal(encodeBase64(bytes(0x62, 0x61, 0x72)), 'YmFy');
});

t.test('utf8DecodeExact refuses invalid UTF-8', async (t) => {
  t.equal(utf8DecodeExact(bytes(0xc3, 0xa9)), 'é');
  t.equal(utf8DecodeExact(bytes(0xff)), undefined);
});

t.test('decodeValue as text, base64 mode', async (t) => {
  const table: Array<[JsonValue, Value]> = [
    ['OK', 'OK'],
    ['T0s=', 'OK'],
    ['YmFy', 'bar'],
    ['UE9ORw==', 'PONG'],
    [1, 1],
    [12345678901234567890n, 12345678901234567890n],
    [null, null],
    [
      ['T0s=', 'YmFy', 2, null, ['w6k=']],
      ['OK', 'bar', 2, null, ['é']],
    ],
    // Inside arrays there is no "OK" exception: a bare OK is not base64 and is kept as it came.
    [['OK'], ['OK']],
    ['not base64!', 'not base64!'],
    [true, null],
    [{ a: 1 }, null],
  ];
  for (const [raw, want] of table)
    t.strictSame(decodeValue(raw, true, false), want, JSON.stringify(String(raw)));
});

t.test('decodeValue as bytes keeps non-UTF-8 values exact', async (t) => {
  const table: Array<[JsonValue, BinaryValue]> = [
    ['OK', bytes(0x4f, 0x4b)],
    ['/wA=', bytes(0xff, 0x00)],
    [
      ['/wA=', 7, null],
      [bytes(0xff, 0x00), 7, null],
    ],
  ];
  for (const [raw, want] of table) t.same(decodeValue(raw, true, true), want, JSON.stringify(raw));
  t.equal(decodeValue('/wA=', true, false), '\ufffd\u0000', 'text mode is lossy for non-UTF-8');
});

t.test('decodeValue without base64 takes strings as they are', async (t) => {
  t.same(decodeValue(['YmFy', 'OK'], false, false), ['YmFy', 'OK']);
  t.same(decodeValue('é', false, true), bytes(0xc3, 0xa9));
});
