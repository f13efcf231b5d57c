// Reading the plain HTTP/1.1 requests the fast path serves straight off the socket; everything else is node:http's.

/** One complete request, as read from a connection's buffer. */
export interface WireRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly target: string;
  /** Header values by lower-case name, each name once. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Offset just past this request in the buffer. */
  readonly end: number;
}

/** What the fast path accepts: requests larger than these go to node:http, which answers 431 or 413. */
export interface WireLimits {
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^(GET|POST|PUT) (\/[\x21-\x7e]*) HTTP\/1\.1$/;
const HEADER_LINE =
  /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[\t ]*((?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)[\t ]*$/;
const DECIMAL = /^\d{1,15}$/;

/**
 * Reads the request that starts at `start`, when it is complete and plain: GET, POST or PUT over HTTP/1.1 with a
 * Host, a Content-Length body (or none), every header well formed and named once, and no Transfer-Encoding,
 * Expect, Upgrade or `Connection` other than keep-alive. Undefined otherwise, including when the request is not
 * complete yet: the caller then hands the connection to node:http, which serves (or refuses) every other form.
 */
export function readWireRequest(buffer: Buffer, start: number, limits: WireLimits): WireRequest | undefined {
  const headEnd = buffer.indexOf(HEAD_END, start);
  if (headEnd === -1 || headEnd - start > limits.maxHeaderBytes) return undefined;
  const lines = buffer.toString('latin1', start, headEnd).split('\r\n');
  const requestLine = REQUEST_LINE.exec(lines[0]!);
  if (!requestLine) return undefined;
  const headers: Record<string, string> = Object.create(null);
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER_LINE.exec(lines[i]!);
    if (!header) return undefined;
    const name = header[1]!.toLowerCase();
    if (name in headers) return undefined;
    headers[name] = header[2]!;
  }
  if (headers['host'] === undefined) return undefined;
  if (headers['transfer-encoding'] !== undefined) return undefined;
  if (headers['expect'] !== undefined || headers['upgrade'] !== undefined) return undefined;
  const connection = headers['connection'];
  if (connection !== undefined && connection.toLowerCase() !== 'keep-alive') return undefined;
  const length = headers['content-length'];
  let bodyBytes = 0;
  if (length !== undefined) {
    if (!DECIMAL.test(length)) return undefined;
    bodyBytes = Number(length);
    if (bodyBytes > limits.maxBodyBytes) return undefined;
  }
  const bodyStart = headEnd + HEAD_END.length;
  const end = bodyStart + bodyBytes;
  if (end > buffer.length) return undefined;
  return {
    method: requestLine[1] as WireRequest['method'],
    target: requestLine[2]!,
    headers,
    body: buffer.subarray(bodyStart, end),
    end,
  };
}
