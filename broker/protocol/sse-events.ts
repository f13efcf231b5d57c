// The SSE wire format of Upstash's pub/sub and monitor streams (docs/rest-api.md). Pure: bytes in, bytes out.

const HEX = /^[0-9a-fA-F]{2}$/;

/**
 * Percent-decodes the rest of a /subscribe/ or /psubscribe/ path into the raw name bytes. `/` stays (the client does
 * not escape it), `+` is a literal plus, and a `%` not followed by two hex digits is kept as it is.
 */
export function decodeStreamName(raw: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 && HEX.test(raw.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x100) {
      // Node hands over the request line's bytes as latin1, so a raw non-ASCII byte comes back unchanged.
      bytes.push(c);
    } else {
      bytes.push(...Buffer.from(raw[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** Whether bytes can go into one `data:` line: the client splits events on `\n`, so a newline cannot be carried. */
export function fitsOneLine(...parts: readonly Buffer[]): boolean {
  return parts.every((part) => !part.includes(0x0a));
}

const DATA = Buffer.from('data: ');
const END = Buffer.from('\n\n');
const COMMA = Buffer.from(',');

/** One event: `data: ` + the fields joined by `,` + a blank line. The caller checked `fitsOneLine`. */
export function dataEvent(...fields: readonly (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [DATA];
  fields.forEach((field, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(typeof field === 'string' ? Buffer.from(field) : field);
  });
  parts.push(END);
  return Buffer.concat(parts);
}

/** The SSE comment sent while a stream is idle, so proxies keep it open. Clients ignore non-`data:` lines. */
export const KEEPALIVE = Buffer.from(': keepalive\n\n');

/** An SSE comment carrying an error before a stream ends (the client ignores it; curl users can read it). */
export function errorComment(code: string, message: string): Buffer {
  return Buffer.from(`: error ${code} ${message.replace(/\n/g, ' ')}\n\n`);
}

function quoteMonitorArg(arg: string): string {
  return `"${arg.replace(/"/g, '\\"')}"`;
}

/**
 * One MONITOR line as Redis writes it (`1721284005.242090 [0 127.0.0.1:6000] "GET" "k"`), rebuilt from the fields
 * ioredis parses out of it. ioredis only unescapes `\"`, so quoting `"` again gives back Redis's exact text.
 */
export function monitorLine(time: string, args: readonly string[], source: string, database: string): string {
  return `${time} [${database} ${source}] ${args.map(quoteMonitorArg).join(' ')}`;
}
