// FrameReader (broker/ws/frame-reader.ts): the frames of any split of a client's byte stream, and every protocol
// error closed with its RFC 6455 code. Client frames are built here by hand, masked as a browser masks them.
import fc from 'fast-check';
import t from 'tap';
import type { SluiceError } from '../broker/errors.js';
import { FrameReader } from '../broker/ws/frame-reader.js';
import { closeCodeOf } from '../broker/ws/frame-writer.js';
import { frame } from './helpers/ws-raw.js';

type Seen =
  | { kind: 'message'; data: string; binary: boolean }
  | { kind: 'ping' | 'pong'; data: string }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'fail'; wsClose: number; code: string; message: string };

/** A reader that records what it finds (copying payloads: they are views of the pushed bytes). */
function recorder(maxPayload = 1 << 20): { reader: FrameReader; seen: Seen[] } {
  const seen: Seen[] = [];
  const reader = new FrameReader(maxPayload, {
    message: (data, binary) => seen.push({ kind: 'message', data: data.toString('latin1'), binary }),
    ping: (data) => seen.push({ kind: 'ping', data: data.toString('latin1') }),
    pong: (data) => seen.push({ kind: 'pong', data: data.toString('latin1') }),
    close: (code, reason) => seen.push({ kind: 'close', code, reason: reason.toString('utf8') }),
    fail: (error: SluiceError) =>
      seen.push({
        kind: 'fail',
        wsClose: closeCodeOf(error),
        code: error.code,
        message: error.message,
      }),
  });
  return { reader, seen };
}

/** Feeds `bytes` cut at the given offsets. */
function feed(reader: FrameReader, bytes: Buffer, cuts: readonly number[] = []): void {
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= at || cut >= bytes.length) continue;
    reader.push(Buffer.from(bytes.subarray(at, cut)));
    at = cut;
  }
  reader.push(Buffer.from(bytes.subarray(at)));
}

const text = (s: string) => Buffer.from(s, 'utf8');

t.test('messages, fragments and control frames survive any split of the stream', async (t) => {
  // A message: text or binary, sent whole or in fragments, with pings between the fragments.
  const message = fc.record({
    binary: fc.boolean(),
    body: fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ minLength: 126, maxLength: 300 }),
    ),
    pieces: fc.integer({ min: 1, max: 4 }),
    pingBetween: fc.boolean(),
    mask: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    lengthForm: fc.constantFrom<(7 | 16 | 64 | undefined)[]>(undefined, undefined, 16, 64),
  });
  await fc.assert(
    fc.property(
      fc.array(message, { maxLength: 6 }),
      fc.array(fc.nat(4000), { maxLength: 12 }),
      (messages, cuts) => {
        const chunks: Buffer[] = [];
        const expected: Seen[] = [];
        for (const m of messages) {
          const body = text(m.body);
          const mask = Buffer.from(m.mask);
          const size = Math.ceil(body.length / m.pieces);
          const pieces =
            m.pieces === 1
              ? [body]
              : Array.from({ length: m.pieces }, (_, i) => body.subarray(i * size, (i + 1) * size));
          pieces.forEach((piece, i) => {
            const last = i === pieces.length - 1;
            const lengthForm = m.lengthForm === 16 && piece.length > 0xffff ? undefined : m.lengthForm;
            chunks.push(
              frame({
                fin: last,
                opcode: i === 0 ? (m.binary ? 2 : 1) : 0,
                payload: piece,
                mask,
                lengthForm,
              }),
            );
            if (!last && m.pingBetween) {
              chunks.push(frame({ opcode: 9, payload: text(`p${i}`), mask }));
              expected.push({ kind: 'ping', data: `p${i}` });
            }
          });
          expected.push({ kind: 'message', data: body.toString('latin1'), binary: m.binary });
        }
        chunks.push(frame({ opcode: 8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), text('bye')]) }));
        expected.push({ kind: 'close', code: 1000, reason: 'bye' });
        // nothing after the close frame is read
        chunks.push(frame({ opcode: 1, payload: text('after close') }));
        const { reader, seen } = recorder();
        feed(reader, Buffer.concat(chunks), cuts);
        t.same(seen, expected);
      },
    ),
    { numRuns: 300 },
  );
});

t.test('a stream fed one byte at a time reads the same as whole', async (t) => {
  const bytes = Buffer.concat([
    frame({ opcode: 1, payload: text('{"id":1,"cmd":["GET","k"]}') }),
    frame({ opcode: 10, payload: text('pong!') }),
    frame({ opcode: 2, payload: Buffer.alloc(70000, 7) }),
    frame({ opcode: 8, payload: Buffer.alloc(0) }),
  ]);
  const whole = recorder();
  whole.reader.push(Buffer.from(bytes));
  const bytewise = recorder();
  feed(
    bytewise.reader,
    bytes,
    Array.from({ length: bytes.length }, (_, i) => i),
  );
  t.same(bytewise.seen, whole.seen);
  t.same(
    whole.seen.map((s) => s.kind),
    ['message', 'pong', 'message', 'close'],
  );
  t.match(
    whole.seen[3],
    { kind: 'close', code: 1005, reason: '' },
    'an empty close frame has no status code',
  );
});

t.test('every protocol error fails with its close code, and nothing is read after it', async (t) => {
  const cases: [string, Buffer, number, RegExp][] = [
    ['unmasked frame', frame({ opcode: 1, payload: text('hi'), mask: null }), 1002, /masked/],
    ['reserved bit', frame({ opcode: 1, payload: text('hi'), rsv: 4 }), 1002, /reserved/],
    ['unknown data opcode', frame({ opcode: 3, payload: text('hi') }), 1002, /opcode 3/],
    ['unknown control opcode', frame({ opcode: 0xb, payload: text('hi') }), 1002, /opcode 11/],
    ['fragmented ping', frame({ fin: false, opcode: 9, payload: text('hi') }), 1002, /fragmented control/],
    ['ping over 125 bytes', frame({ opcode: 9, payload: Buffer.alloc(126) }), 1002, /125/],
    ['continuation first', frame({ opcode: 0, payload: text('hi') }), 1002, /continuation/],
    [
      'new message inside a fragmented one',
      Buffer.concat([
        frame({ fin: false, opcode: 1, payload: text('a') }),
        frame({ opcode: 1, payload: text('b') }),
      ]),
      1002,
      /previous one/,
    ],
    ['close with a 1-byte payload', frame({ opcode: 8, payload: Buffer.from([3]) }), 1002, /1-byte/],
    ['close code 1005', frame({ opcode: 8, payload: Buffer.from([0x03, 0xed]) }), 1002, /close code 1005/],
    ['close code 2999', frame({ opcode: 8, payload: Buffer.from([0x0b, 0xb7]) }), 1002, /close code 2999/],
    ['invalid UTF-8 text', frame({ opcode: 1, payload: Buffer.from([0xff, 0xfe]) }), 1007, /UTF-8/],
    [
      'invalid UTF-8 across fragments',
      Buffer.concat([
        frame({ fin: false, opcode: 1, payload: Buffer.from([0xe2, 0x82]) }),
        frame({ opcode: 0, payload: Buffer.from([0x41]) }),
      ]),
      1007,
      /UTF-8/,
    ],
    [
      'invalid UTF-8 close reason',
      frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xc3]) }),
      1007,
      /reason/,
    ],
    [
      'message over the limit',
      frame({ opcode: 1, payload: Buffer.alloc(101, 0x61) }),
      1009,
      /over 100 bytes/,
    ],
    [
      'fragments adding up over the limit',
      Buffer.concat([
        frame({ fin: false, opcode: 2, payload: Buffer.alloc(60) }),
        frame({ opcode: 0, payload: Buffer.alloc(60) }),
      ]),
      1009,
      /SLUICE_WS_MAX_FRAME_BYTES/,
    ],
  ];
  for (const [name, bytes, wsClose, message] of cases) {
    const { reader, seen } = recorder(100);
    feed(reader, Buffer.concat([bytes, frame({ opcode: 1, payload: text('after') })]));
    t.equal(seen.length, 1, `${name}: one event`);
    t.match(seen[0], { kind: 'fail', wsClose, message }, name);
  }
  // UTF-8 split across fragments is fine; split across the stream too
  const { reader, seen } = recorder();
  const euro = Buffer.from('€uro');
  feed(
    reader,
    Buffer.concat([
      frame({ fin: false, opcode: 1, payload: euro.subarray(0, 2) }),
      frame({ opcode: 0, payload: euro.subarray(2) }),
    ]),
    [5, 9],
  );
  t.same(seen, [{ kind: 'message', data: euro.toString('latin1'), binary: false }]);
});

t.test('a message over the limit fails on its header, before its payload is buffered', async (t) => {
  const { reader, seen } = recorder(1000);
  const header = frame({ opcode: 2, payload: Buffer.alloc(0), lengthForm: 64 });
  header.writeBigUInt64BE(BigInt(2 ** 40), 2);
  reader.push(header.subarray(0, 10));
  t.match(seen, [{ kind: 'fail', wsClose: 1009 }]);
});
