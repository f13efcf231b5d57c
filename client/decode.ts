// The reply decoding rules of `Upstash-Encoding: base64` (docs/rest-api.md): a top-level "OK" is plain, every other string is base64.

import { decodeBase64, utf8Decode, utf8Encode } from './base64.js';
import type { JsonValue } from './json.js';

/** A reply value with strings as UTF-8 text: nil is `null`, integers beyond 2^53 are `bigint`. */
export type Value = null | number | bigint | string | Value[];

/** A reply value with strings as exact bytes. */
export type BinaryValue = null | number | bigint | Uint8Array | BinaryValue[];

/**
 * Decodes one reply value (a single result or one pipeline item's `result`).
 * With `base64` (the `Upstash-Encoding: base64` / `?encoding=base64` mode), a top-level `"OK"` is taken as is,
 * any other string, at any depth, is base64 of the raw bytes; text that is not valid base64 is kept as it came,
 * as the official client does. `binary` returns strings as `Uint8Array`, otherwise as UTF-8 text (lossy for
 * bytes that are not UTF-8).
 */
export function decodeValue(raw: JsonValue, base64: boolean, binary: true): BinaryValue;
export function decodeValue(raw: JsonValue, base64: boolean, binary: false): Value;
export function decodeValue(raw: JsonValue, base64: boolean, binary: boolean): Value | BinaryValue;
export function decodeValue(raw: JsonValue, base64: boolean, binary: boolean): Value | BinaryValue {
  return walk(raw, base64, binary, true);
}

function walk(raw: JsonValue, base64: boolean, binary: boolean, top: boolean): Value | BinaryValue {
  if (typeof raw === 'string') {
    const bytes = base64 && !(top && raw === 'OK') ? decodeBase64(raw) : undefined;
    if (binary) return bytes ?? utf8Encode(raw);
    return bytes ? utf8Decode(bytes) : raw;
  }
  if (Array.isArray(raw)) return raw.map((item) => walk(item, base64, binary, false)) as Value[];
  // RESP2 has no booleans or maps; a broker never sends them, and the official client reads an object as nil.
  if (raw === null || typeof raw === 'boolean' || typeof raw === 'object') return null;
  return raw;
}
