// Reading the plain HTTP/1.1 requests the fast path serves straight off the socket; everything else is node:http's.

/** One complete request, as read from a connection's buffer. */
export interface WireRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** The target in origin-form (`/…`): an absolute-form one is given as the path and query it carries. */
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

import { originFormOf } from '../entrance/request-target.js';
import { listsUpgrade } from '../entrance/upgrade.js';

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
/** " HTTP/1.1\r\n", what ends a request line. */
const VERSION_CRLF = Buffer.from(' HTTP/1.1\r\n');

/** RFC 9110 token characters (header names), by byte. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TOKEN[c.charCodeAt(0)] = 1;

/** Bytes a header value may hold: field-vchar, obs-text, space and tab. */
const VALUE = new Uint8Array(256);
for (let byte = 0; byte < 256; byte++) VALUE[byte] = byte === TAB || (byte >= SPACE && byte !== 0x7f) ? 1 : 0;

/**
 * Header names clients commonly send, lower-cased, by length: a name that matches one (in any case) is read as
 * that string, without slicing and lower-casing the bytes, a large part of reading a request otherwise
 * (bench/results/code-comment-figures.md). readWireRequest recognises
 * host, content-length, connection, upgrade, expect and transfer-encoding only through this list.
 */
const KNOWN_NAMES: string[][] = [];
for (const name of [
  'host',
  'authorization',
  'content-type',
  'content-length',
  'connection',
  'keep-alive',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'upgrade',
  'expect',
  'transfer-encoding',
  'upstash-encoding',
  'upstash-response-format',
  'sluice-deadline-ms',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'origin',
]) {
  const sameLength = KNOWN_NAMES[name.length] ?? [];
  sameLength.push(name);
  KNOWN_NAMES[name.length] = sameLength;
}

/** The lower-cased header name of the token bytes `from`..`to` when it is a known one (any case), else undefined. */
function knownName(buffer: Buffer, from: number, to: number): string | undefined {
  const candidates = KNOWN_NAMES[to - from];
  if (candidates === undefined) return undefined;
  for (const name of candidates) {
    let i = 0;
    // Token bytes only: `| 0x20` lower-cases a letter and leaves '-' alone, and maps no other token byte onto
    // a letter or '-'.
    while (i < name.length && (buffer[from + i]! | 0x20) === name.charCodeAt(i)) i++;
    if (i === name.length) return name;
  }
  return undefined;
}

/** Headers the fast path reads in one request; a request with more is left to node:http. */
const MAX_FAST_HEADERS = 64;
/** Scratch space of readWireRequest (it runs to completion, never re-entered): per header, its name when known… */
const knownNames: (string | undefined)[] = new Array(MAX_FAST_HEADERS).fill(undefined);
/** …and its name start, name end, value start and value end in the buffer. */
const spans = new Int32Array(4 * MAX_FAST_HEADERS);

/** The method at `start` followed by a space; undefined for any other method. */
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

/**
 * Reads the request that starts at `start`, when it is complete and plain: GET, POST or PUT over HTTP/1.1 with a
 * Host and a path or absolute-form target, a Content-Length body (or none), every header well formed and named once, no Transfer-Encoding or Expect,
 * and `Connection` keep-alive or close, or a bodiless GET upgrading the connection (`Upgrade` with a `Connection`
 * that lists upgrade). Undefined otherwise, including when the request is not
 * complete yet: the caller then hands the connection to node:http, which serves (or refuses) every other form.
 * Reads bytes rather than strings: it runs once per request on the hot path.
 */
export function readWireRequest(buffer: Buffer, start: number, limits: WireLimits): WireRequest | undefined {
  const method = methodAt(buffer, start);
  if (method === undefined) return undefined;
  const length = buffer.length;
  // Request line: METHOD SP target SP HTTP/1.1 CRLF, the target printable ASCII (its form is checked below).
  const targetAt = start + method.length + 1;
  let i = targetAt;
  for (; i < length; i++) {
    const byte = buffer[i]!;
    if (byte <= SPACE || byte >= 0x7f) break;
  }
  const targetEnd = i;
  if (targetEnd + VERSION_CRLF.length > length) return undefined;
  for (let k = 0; k < VERSION_CRLF.length; k++)
    if (buffer[targetEnd + k] !== VERSION_CRLF[k]) return undefined;
  // Header lines up to the empty line, checked byte by byte and remembered as offsets; running off the buffer
  // means the request is not complete (undefined).
  let line = targetEnd + VERSION_CRLF.length;
  const headLimit = start + limits.maxHeaderBytes;
  let count = 0;
  while (buffer[line] !== CR) {
    if (line > headLimit || count === MAX_FAST_HEADERS) return undefined;
    // name ":" OWS value OWS CRLF
    i = line;
    while (TOKEN[buffer[i]!] === 1) i++;
    if (i === line || buffer[i] !== COLON) return undefined;
    knownNames[count] = knownName(buffer, line, i);
    spans[4 * count] = line;
    spans[4 * count + 1] = i;
    i++;
    while (buffer[i] === SPACE || buffer[i] === TAB) i++;
    spans[4 * count + 2] = i;
    let valueEnd = i;
    for (; i < length; i++) {
      const byte = buffer[i]!;
      if (VALUE[byte] !== 1) break;
      if (byte !== SPACE && byte !== TAB) valueEnd = i + 1;
    }
    if (buffer[i] !== CR || buffer[i + 1] !== LF) return undefined;
    spans[4 * count + 3] = valueEnd;
    count++;
    line = i + 2;
  }
  // The empty line: the head's CRLFCRLF begins with the CRLF before it.
  if (buffer[line + 1] !== LF || line - 2 - start > limits.maxHeaderBytes) return undefined;
  // One decoding of the head; names and values are slices of it.
  const head = buffer.toString('latin1', start, line);
  const headers: Record<string, string> = Object.create(null);
  // The headers that decide whether the fast path may serve the request, noted as they are read.
  let host = false;
  let upgrade = false;
  let connectionValue: string | undefined;
  let contentLength: string | undefined;
  for (let h = 0; h < count; h++) {
    const known = knownNames[h];
    const name = known ?? head.slice(spans[4 * h]! - start, spans[4 * h + 1]! - start).toLowerCase();
    if (name in headers) return undefined;
    const value = head.slice(spans[4 * h + 2]! - start, spans[4 * h + 3]! - start);
    headers[name] = value;
    // Every name below is a known one, so an unknown name is never any of them.
    if (known === undefined) continue;
    if (known === 'host') host = true;
    else if (known === 'content-length') contentLength = value;
    else if (known === 'connection') connectionValue = value;
    else if (known === 'upgrade') upgrade = true;
    else if (known === 'transfer-encoding' || known === 'expect') return undefined;
  }
  if (!host) return undefined;
  const connection = connectionValue?.toLowerCase();
  if (upgrade) {
    if (method !== 'GET' || contentLength !== undefined || !listsUpgrade(connection)) return undefined;
  } else if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close')
    return undefined;
  let bodyBytes = 0;
  if (contentLength !== undefined) {
    if (contentLength.length === 0 || contentLength.length > 15) return undefined;
    for (let k = 0; k < contentLength.length; k++) {
      const digit = contentLength.charCodeAt(k) - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      bodyBytes = bodyBytes * 10 + digit;
    }
    if (bodyBytes > limits.maxBodyBytes) return undefined;
  }
  const bodyStart = line + 2;
  const end = bodyStart + bodyBytes;
  if (end > length) return undefined;
  // A malformed absolute-form target (or any other form) is node:http's to refuse.
  const target = originFormOf(head.slice(targetAt - start, targetEnd - start));
  if (target === undefined) return undefined;
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
