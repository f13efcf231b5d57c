// Redis replies as the broker holds them, and their JSON form under Upstash's encoding rules (docs/rest-api.md). Pure.
import type { Reply } from '../redis/command.js';

const OK = Buffer.from('OK');

function isOk(value: Buffer): boolean {
  return value.length === 2 && value[0] === OK[0] && value[1] === OK[1];
}

/** Whether every byte is printable ASCII that JSON leaves as it is (no quote, backslash or control character). */
function plainAscii(value: Buffer): boolean {
  for (let i = 0; i < value.length; i++) {
    const byte = value[i]!;
    if (byte < 0x20 || byte > 0x7e || byte === 0x22 || byte === 0x5c) return false;
  }
  return true;
}

function stringJson(value: Buffer, base64: boolean): string {
  if (base64) return `"${value.toString('base64')}"`;
  // Most values need no escaping: quoted as they are, without decoding UTF-8 and re-encoding them as JSON.
  if (plainAscii(value)) return `"${value.toString('latin1')}"`;
  // Without base64, invalid UTF-8 becomes U+FFFD, as at Upstash.
  return JSON.stringify(value.toString('utf8'));
}

function nestedJson(value: Reply, base64: boolean): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return stringJson(value, base64);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += nestedJson(value[i]!, base64);
    }
    return out + ']';
  }
  // An error inside an array (e.g. a Lua table holding one) can only be shown as a string value.
  return stringJson(Buffer.from(value.message), base64);
}

/**
 * The JSON text of a reply. With base64, every string is base64 of its raw bytes except a top-level `OK`;
 * strings inside arrays are always base64, `OK` included, because the client decodes them without exception.
 */
export function replyJson(value: Reply, base64: boolean): string {
  if (base64 && Buffer.isBuffer(value) && isOk(value)) return '"OK"';
  return nestedJson(value, base64);
}

/** The RESP2 bytes of a reply, for `Upstash-Response-Format: resp2`. A top-level `OK` is sent as a status reply. */
export function replyResp2(value: Reply, top = true): Buffer {
  if (value === null) return Buffer.from('$-1\r\n');
  if (typeof value === 'string') return Buffer.from(`:${value}\r\n`);
  if (Buffer.isBuffer(value)) {
    if (top && isOk(value)) return Buffer.from('+OK\r\n');
    return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]);
  }
  if (Array.isArray(value)) {
    return Buffer.concat([Buffer.from(`*${value.length}\r\n`), ...value.map((v) => replyResp2(v, false))]);
  }
  return Buffer.from(`-${value.message.replace(/\r?\n/g, ' ')}\r\n`);
}
