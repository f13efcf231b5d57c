// textFrame (broker/ws/frame-writer.ts) writes the same bytes as ws's own Sender for every length class.
import t from 'tap';
import * as ws from 'ws';
import { textFrame } from '../broker/ws/frame-writer.js';

const wsFrame = (text: string): Buffer => {
  const data = Buffer.from(text);
  // Sender.frame builds what ws.send writes (ws exports Sender; its typings do not declare it).
  const { Sender } = ws as unknown as { Sender: { frame: (data: Buffer, options: object) => Buffer[] } };
  const parts = Sender.frame(data, {
    fin: true,
    opcode: 1,
    mask: false,
    readOnly: false,
    rsv1: false,
  });
  return Buffer.concat(parts);
};

t.test('the same bytes as ws.send, from empty to past 64 KiB, in UTF-8', async (t) => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70000, 1024 * 1024]) {
    const text = 'x'.repeat(length);
    t.ok(textFrame(text).equals(wsFrame(text)), `${length} bytes`);
  }
  for (const text of ['é'.repeat(63), 'é'.repeat(64), '😀'.repeat(20000), '{"id":1,"result":"\u0000"}'])
    t.ok(textFrame(text).equals(wsFrame(text)), `${Buffer.byteLength(text)} bytes of multi-byte text`);
});
