// Path-style commands (`GET /set/k/v?EX=100`): segments and query turned into arguments. Pure.
import { SluiceError } from '../errors.js';
import type { Arg } from '../protocol/request.js';

function hex(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/**
 * Percent-decodes one segment into bytes (`+` stays a plus). Throws SLUICE_ERR_HTTP_BAD_PATH on a malformed escape.
 * Returns the string itself when it has no escapes.
 */
export function percentDecode(segment: string): Arg {
  if (!segment.includes('%')) return segment;
  const bytes = Buffer.from(segment, 'latin1');
  const out = Buffer.allocUnsafe(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte !== 37) {
      out[length++] = byte;
      continue;
    }
    const high = hex(bytes[i + 1] ?? 0);
    const low = hex(bytes[i + 2] ?? 0);
    if (high < 0 || low < 0) {
      throw new SluiceError(
        'SLUICE_ERR_HTTP_BAD_PATH',
        `ERR malformed percent-escape in ${JSON.stringify(segment.slice(0, 100))}: expected % followed by two hex digits`,
      );
    }
    out[length++] = high * 16 + low;
    i += 2;
  }
  return out.subarray(0, length);
}

/** Query arguments in order: `a=b` gives `a`, `b`; a bare `a` gives `a`; `_token` is skipped. */
export function queryArgs(query: string): Arg[] {
  const args: Arg[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    if (key === '_token') continue;
    args.push(percentDecode(key));
    if (eq !== -1) args.push(percentDecode(part.slice(eq + 1)));
  }
  return args;
}

/**
 * The argument list of a path-style request: path segments (the first is the command), then the body as one raw
 * argument when non-empty, then the query. Segments are taken literally after decoding (`..` is an argument).
 */
export function pathCommand(pathname: string, query: string, body: Buffer | undefined): Arg[] {
  const args: Arg[] = pathname.slice(1).split('/').map(percentDecode);
  if (body !== undefined && body.length > 0) args.push(body);
  for (const arg of queryArgs(query)) args.push(arg);
  return args;
}
