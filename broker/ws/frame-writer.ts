// A server's WebSocket frames (RFC 6455 §5.2): FIN set, unmasked, the payload length in 7, 16 or 64 bits.
import { ERROR_CATALOGUE, type ErrorSpec, SluiceError } from '../errors.js';

/** The bytes of one unfragmented text frame carrying `text` as UTF-8. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const head = length < 126 ? 2 : length <= 0xffff ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = 0x81;
  if (head === 2) frame[1] = length;
  else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, head, 'utf8');
  return frame;
}

/** A ping frame with no payload. */
export const PING_FRAME: Buffer = Buffer.from([0x89, 0x00]);

/** A pong frame echoing a ping's payload (at most 125 bytes, as the reader guarantees). */
export function pongFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(2 + payload.length);
  frame[0] = 0x8a;
  frame[1] = payload.length;
  payload.copy(frame, 2);
  return frame;
}

/** A close frame: `code` and `reason` (at most 123 bytes of UTF-8), or an empty payload when code is undefined. */
export function closeFrame(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.from([0x88, 0x00]);
  const reasonBytes = Buffer.byteLength(reason);
  const frame = Buffer.allocUnsafe(4 + reasonBytes);
  frame[0] = 0x88;
  frame[1] = 2 + reasonBytes;
  frame.writeUInt16BE(code, 2);
  frame.write(reason, 4, 'utf8');
  return frame;
}

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of which hold the close code. */
const MAX_REASON_BYTES = 123;

/** A close reason starting with the catalogue code, cut to what a close frame can carry. */
export function closeReason(error: SluiceError): string {
  let reason = `${error.code} ${error.message.replace(/^ERR /, '')}`;
  while (Buffer.byteLength(reason) > MAX_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}

/** The close code an error ends a socket with: its catalogue `wsClose`, else 1011 (internal error). */
export function closeCodeOf(error: Error): number {
  if (error instanceof SluiceError) {
    const spec: ErrorSpec = ERROR_CATALOGUE[error.code];
    if (spec.wsClose !== undefined && spec.wsClose !== 1006) return spec.wsClose;
  }
  return 1011;
}
