// WebSocket frames by hand, for tests that must send what no well-behaved client library would.

export interface FrameSpec {
  fin?: boolean;
  opcode: number;
  payload: Buffer;
  mask?: Buffer | null;
  rsv?: number;
  /** Force the 16- or 64-bit length form even for short payloads (allowed by the RFC for clients). */
  lengthForm?: 7 | 16 | 64;
}

/** A client frame: masked unless `mask` is null. */
export function frame({
  fin = true,
  opcode,
  payload,
  mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]),
  rsv = 0,
  lengthForm,
}: FrameSpec): Buffer {
  const form = lengthForm ?? (payload.length < 126 ? 7 : payload.length <= 0xffff ? 16 : 64);
  const head = Buffer.alloc(form === 7 ? 2 : form === 16 ? 4 : 10);
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) head[1] = maskBit | payload.length;
  else if (form === 16) {
    head[1] = maskBit | 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, masked]);
}

/** A server frame read back from raw bytes (server frames are never masked). */
export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** The complete server frames in `bytes`, from `start`. */
export function serverFrames(bytes: Buffer, start = 0): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = start;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) {
      head = 4;
      length = bytes.readUInt16BE(at + 2);
    } else if (length === 127) {
      head = 10;
      length = Number(bytes.readBigUInt64BE(at + 2));
    }
    if (at + head + length > bytes.length) break;
    frames.push({ opcode: bytes[at]! & 0x0f, payload: bytes.subarray(at + head, at + head + length) });
    at += head + length;
  }
  return frames;
}

/** A close frame's code and reason. */
export function closeOf(frame: ServerFrame): { code: number; reason: string } {
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') };
}
