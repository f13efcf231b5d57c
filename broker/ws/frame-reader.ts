// Reading a client's WebSocket frames (RFC 6455 §5) off a byte stream split anywhere, with no extensions.
import { isUtf8 } from 'node:buffer';
import { SluiceError } from '../errors.js';

/** What the reader finds in the stream; called synchronously from `push`. */
export interface FrameSink {
  /** A whole message (fragments joined), text already checked to be UTF-8. */
  message(data: Buffer, isBinary: boolean): void;
  ping(payload: Buffer): void;
  pong(payload: Buffer): void;
  /** The peer's close frame: its status code (1005 when it gave none) and reason. Nothing is read after it. */
  close(code: number, reason: Buffer): void;
  /** The stream broke the protocol (its error's `wsClose` is 1002, 1007 or 1009). Nothing is read after it. */
  fail(error: SluiceError): void;
}

/** What the reader fails with; the catalogue closes them with 1002, 1009 and 1007. */
type ReaderError = 'SLUICE_ERR_WS_PROTOCOL' | 'SLUICE_ERR_WS_FRAME_TOO_LARGE' | 'SLUICE_ERR_WS_BAD_UTF8';

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** RFC 6455 §7.4: the status codes a close frame may carry (1004-1006 and 1015 are never sent). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * Turns the bytes of one connection into frames. Client frames must be masked; a message may be fragmented, with
 * control frames between its fragments; a message over `maxPayload` bytes fails with 1009 as soon as its length
 * is known, before its payload is buffered. Complete frames are unmasked in place and handed on without copying;
 * a frame split across reads waits, unjoined, until all of it has arrived (so a large frame is copied once).
 */
export class FrameReader {
  readonly #maxPayload: number;
  readonly #sink: FrameSink;
  /** Bytes of an incomplete frame, and how many the frame needs in all before it can be read. */
  #parts: Buffer[] = [];
  #partBytes = 0;
  #needed = 0;
  /** The fragments of a message in progress and its opcode (0: none in progress). */
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  #stopped = false;

  constructor(maxPayload: number, sink: FrameSink) {
    this.#maxPayload = maxPayload;
    this.#sink = sink;
  }

  /** Reads what `chunk` completes. */
  push(chunk: Buffer): void {
    if (this.#stopped) return;
    let bytes = chunk;
    if (this.#partBytes > 0) {
      this.#parts.push(chunk);
      this.#partBytes += chunk.length;
      if (this.#partBytes < this.#needed) return;
      bytes = Buffer.concat(this.#parts, this.#partBytes);
      this.#parts = [];
      this.#partBytes = 0;
    }
    const used = this.#readFrames(bytes);
    if (used < bytes.length && !this.#stopped) {
      this.#parts.push(bytes.subarray(used));
      this.#partBytes = bytes.length - used;
    }
  }

  /** Reads every complete frame in `bytes`; returns where the first incomplete one starts. */
  #readFrames(bytes: Buffer): number {
    let at = 0;
    while (!this.#stopped) {
      const available = bytes.length - at;
      if (available < 2) {
        this.#needed = 2;
        return at;
      }
      const first = bytes[at]!;
      const second = bytes[at + 1]!;
      const fin = (first & 0x80) !== 0;
      const opcode = first & 0x0f;
      if ((first & 0x70) !== 0)
        return this.#fail('SLUICE_ERR_WS_PROTOCOL', 'reserved bits set (no extension was negotiated)');
      if ((second & 0x80) === 0) return this.#fail('SLUICE_ERR_WS_PROTOCOL', 'client frames must be masked');
      const control = opcode >= 0x8;
      if (control) {
        if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG)
          return this.#fail('SLUICE_ERR_WS_PROTOCOL', `unknown opcode ${opcode}`);
        if (!fin) return this.#fail('SLUICE_ERR_WS_PROTOCOL', 'fragmented control frame');
      } else if (opcode === OP_CONTINUATION) {
        if (this.#fragmentOpcode === 0)
          return this.#fail('SLUICE_ERR_WS_PROTOCOL', 'continuation frame without a message to continue');
      } else if (opcode !== OP_TEXT && opcode !== OP_BINARY) {
        return this.#fail('SLUICE_ERR_WS_PROTOCOL', `unknown opcode ${opcode}`);
      } else if (this.#fragmentOpcode !== 0) {
        return this.#fail('SLUICE_ERR_WS_PROTOCOL', 'new message before the previous one was finished');
      }
      let length = second & 0x7f;
      let head = 2;
      if (length === 126) {
        head = 4;
        if (available < head) {
          this.#needed = head;
          return at;
        }
        length = bytes.readUInt16BE(at + 2);
      } else if (length === 127) {
        head = 10;
        if (available < head) {
          this.#needed = head;
          return at;
        }
        length = bytes.readUInt32BE(at + 2) * 2 ** 32 + bytes.readUInt32BE(at + 6);
      }
      if (control && length > 125)
        return this.#fail('SLUICE_ERR_WS_PROTOCOL', 'control frame payload over 125 bytes');
      if (!control && this.#fragmentBytes + length > this.#maxPayload)
        return this.#fail(
          'SLUICE_ERR_WS_FRAME_TOO_LARGE',
          `a message over ${this.#maxPayload} bytes (SLUICE_WS_MAX_FRAME_BYTES)`,
        );
      const total = head + 4 + length;
      if (available < total) {
        this.#needed = total;
        return at;
      }
      const payload = bytes.subarray(at + head + 4, at + total);
      unmask(payload, bytes, at + head);
      at += total;
      if (control) this.#control(opcode, payload);
      else this.#data(fin, opcode, payload);
    }
    return bytes.length;
  }

  #data(fin: boolean, opcode: number, payload: Buffer): void {
    if (!fin || this.#fragmentOpcode !== 0) {
      if (this.#fragmentOpcode === 0) this.#fragmentOpcode = opcode;
      // empty fragments are not kept: a stream of them would otherwise grow the list without growing the message
      if (payload.length > 0) this.#fragments.push(payload);
      this.#fragmentBytes += payload.length;
      if (!fin) return;
      opcode = this.#fragmentOpcode;
      payload = Buffer.concat(this.#fragments, this.#fragmentBytes);
      this.#fragments = [];
      this.#fragmentBytes = 0;
      this.#fragmentOpcode = 0;
    }
    if (opcode === OP_TEXT && !isUtf8(payload))
      return void this.#fail('SLUICE_ERR_WS_BAD_UTF8', 'text message is not valid UTF-8');
    this.#sink.message(payload, opcode === OP_BINARY);
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) return this.#sink.ping(payload);
    if (opcode === OP_PONG) return this.#sink.pong(payload);
    if (payload.length === 1)
      return void this.#fail('SLUICE_ERR_WS_PROTOCOL', 'close frame with a 1-byte payload');
    let code = 1005;
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code))
        return void this.#fail('SLUICE_ERR_WS_PROTOCOL', `invalid close code ${code}`);
    }
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) return void this.#fail('SLUICE_ERR_WS_BAD_UTF8', 'close reason is not valid UTF-8');
    this.stop();
    this.#sink.close(code, reason);
  }

  /** Stops reading and reports the error (its catalogue entry holds the close code); returns 0 for #readFrames. */
  #fail(code: ReaderError, message: string): number {
    this.stop();
    this.#sink.fail(new SluiceError(code, `ERR ${message}`));
    return 0;
  }

  /** Reads nothing more (after a close frame or an error, or when the connection is torn down). */
  stop(): void {
    this.#stopped = true;
    this.#parts = [];
    this.#partBytes = 0;
    this.#fragments = [];
    this.#fragmentBytes = 0;
  }
}

/** XORs `payload` in place with the 4-byte mask at `bytes[maskAt]`. */
function unmask(payload: Buffer, bytes: Buffer, maskAt: number): void {
  const m0 = bytes[maskAt]!;
  const m1 = bytes[maskAt + 1]!;
  const m2 = bytes[maskAt + 2]!;
  const m3 = bytes[maskAt + 3]!;
  const length = payload.length;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    payload[i] = payload[i]! ^ m0;
    payload[i + 1] = payload[i + 1]! ^ m1;
    payload[i + 2] = payload[i + 2]! ^ m2;
    payload[i + 3] = payload[i + 3]! ^ m3;
  }
  if (i < length) payload[i] = payload[i]! ^ m0;
  if (i + 1 < length) payload[i + 1] = payload[i + 1]! ^ m1;
  if (i + 2 < length) payload[i + 2] = payload[i + 2]! ^ m2;
}
