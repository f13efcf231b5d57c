// Reading the plain HTTP/1.1 requests the fast path serves straight off the socket; everything else is node:http's.

/** One complete request, as read from a connection's buffer. */
export interface WireRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly target: string;
  /** Header values by lower-case name, each name once. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** `Connection: close`: the last request of its connection, which closes once it is answered. */
  readonly close: boolean;
  /** A bodiless GET with `Upgrade` and `Connection: upgrade`: what follows it belongs to the new protocol. */
  readonly upgrade: boolean;
  /** Offset just past this request in the buffer. */
  readonly end: number;
}

/** What the fast path accepts: requests larger than these go to node:http, which answers 431 or 413. */
export interface WireLimits {
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
const HEAD_END = Buffer.from('\r\n\r\n');
const HTTP_1_1 = Buffer.from(' HTTP/1.1');

/** RFC 9110 token characters (header names), by byte. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TOKEN[c.charCodeAt(0)] = 1;

/** Whether a byte may appear in a header value (field-vchar, obs-text, space and tab). */
function valueByte(byte: number): boolean {
  return byte === TAB || (byte >= SPACE && byte !== 0x7f);
}

/** The method at `start` followed by a space, and where its target begins; undefined for any other method. */
function methodAt(buffer: Buffer, start: number): WireRequest['method'] | undefined {
  const a = buffer[start];
  if (a === 0x47 && buffer[start + 1] === 0x45 && buffer[start + 2] === 0x54 && buffer[start + 3] === SPACE)
    return 'GET';
  if (a !== 0x50) return undefined;
  const b = buffer[start + 1];
  if (b === 0x4f && buffer[start + 2] === 0x53 && buffer[start + 3] === 0x54 && buffer[start + 4] === SPACE)
    return 'POST';
  if (b === 0x55 && buffer[start + 2] === 0x54 && buffer[start + 3] === SPACE) return 'PUT';
  return undefined;
}

/** Whether a lower-cased Connection value lists the upgrade option (`Upgrade`, `keep-alive, Upgrade`). */
export function listsUpgrade(connection: string | undefined): boolean {
  if (connection === undefined) return false;
  if (connection === 'upgrade') return true;
  for (const option of connection.split(',')) if (option.trim() === 'upgrade') return true;
  return false;
}

/**
 * Reads the request that starts at `start`, when it is complete and plain: GET, POST or PUT over HTTP/1.1 with a
 * Host, a Content-Length body (or none), every header well formed and named once, no Transfer-Encoding or Expect,
 * and `Connection` keep-alive or close, or a bodiless GET upgrading the connection (`Upgrade` with a `Connection`
 * that lists upgrade). Undefined otherwise, including when the request is not
 * complete yet: the caller then hands the connection to node:http, which serves (or refuses) every other form.
 * Reads bytes rather than strings: it runs once per request on the hot path.
 */
export function readWireRequest(buffer: Buffer, start: number, limits: WireLimits): WireRequest | undefined {
  const headEnd = buffer.indexOf(HEAD_END, start);
  if (headEnd === -1 || headEnd - start > limits.maxHeaderBytes) return undefined;
  const method = methodAt(buffer, start);
  if (method === undefined) return undefined;
  // Request line: METHOD SP target SP HTTP/1.1, the target printable ASCII starting with '/'.
  const lineEnd = buffer.indexOf(LF, start);
  const versionAt = lineEnd - 1 - HTTP_1_1.length;
  if (
    buffer[lineEnd - 1] !== CR ||
    versionAt < start ||
    !buffer.subarray(versionAt, lineEnd - 1).equals(HTTP_1_1)
  )
    return undefined;
  const targetAt = start + method.length + 1;
  if (buffer[targetAt] !== 0x2f || targetAt >= versionAt) return undefined;
  for (let i = targetAt; i < versionAt; i++) {
    const byte = buffer[i]!;
    if (byte <= SPACE || byte >= 0x7f) return undefined;
  }
  const target = buffer.toString('latin1', targetAt, versionAt);
  const headers: Record<string, string> = Object.create(null);
  let line = lineEnd + 1;
  while (line < headEnd + 2) {
    // name ":" OWS value OWS CRLF
    let i = line;
    while (TOKEN[buffer[i]!] === 1) i++;
    if (i === line || buffer[i] !== COLON) return undefined;
    const name = buffer.toString('latin1', line, i).toLowerCase();
    i++;
    while (buffer[i] === SPACE || buffer[i] === TAB) i++;
    const valueStart = i;
    let valueEnd = i;
    for (; buffer[i] !== CR; i++) {
      const byte = buffer[i]!;
      if (!valueByte(byte)) return undefined;
      if (byte !== SPACE && byte !== TAB) valueEnd = i + 1;
    }
    if (buffer[i + 1] !== LF || name in headers) return undefined;
    headers[name] = buffer.toString('latin1', valueStart, valueEnd);
    line = i + 2;
  }
  if (headers['host'] === undefined) return undefined;
  if (headers['transfer-encoding'] !== undefined) return undefined;
  if (headers['expect'] !== undefined) return undefined;
  const connection = headers['connection']?.toLowerCase();
  const upgrade = headers['upgrade'] !== undefined;
  if (upgrade) {
    if (method !== 'GET' || headers['content-length'] !== undefined || !listsUpgrade(connection))
      return undefined;
  } else if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close')
    return undefined;
  let bodyBytes = 0;
  const length = headers['content-length'];
  if (length !== undefined) {
    if (length.length === 0 || length.length > 15) return undefined;
    for (let i = 0; i < length.length; i++) {
      const digit = length.charCodeAt(i) - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      bodyBytes = bodyBytes * 10 + digit;
    }
    if (bodyBytes > limits.maxBodyBytes) return undefined;
  }
  const bodyStart = headEnd + HEAD_END.length;
  const end = bodyStart + bodyBytes;
  if (end > buffer.length) return undefined;
  return {
    method,
    target,
    headers,
    body: buffer.subarray(bodyStart, end),
    close: connection === 'close',
    upgrade,
    end,
  };
}
