// Load and raw-socket helpers for the fault tests: keep-alive requests that always resolve, and timing figures.
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { TOKEN } from './broker.js';
import { sleep } from './time.js';

/** How one request ended: an HTTP status with its parsed JSON body, or status 0 with a network error code. */
export interface CallResult {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Milliseconds from sending to the end of the response (or the error). */
  readonly ms: number;
  /** Network error code (ECONNRESET, ECONNREFUSED, TIMEOUT…) when status is 0. */
  readonly error?: string;
  /** When the request started (performance.now()). */
  readonly started: number;
}

export interface CallOptions {
  readonly method?: string;
  /** Extra headers; `Authorization: ''` sends no Authorization header at all (the admin token is the default). */
  readonly headers?: Record<string, string>;
  /** A request not settled after this many ms resolves with error `TIMEOUT` (a hang, for the tests). */
  readonly hangMs?: number;
  readonly agent?: Agent;
}

/** A keep-alive agent for many concurrent clients. Destroy it in t.teardown. */
export function keepAliveAgent(maxSockets = 256): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

/** Sends one request with the admin token; never rejects. */
export function call(
  url: string,
  path: string,
  body: unknown,
  options: CallOptions = {},
): Promise<CallResult> {
  const started = performance.now();
  const payload =
    body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: Omit<CallResult, 'ms' | 'started'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...result, ms: performance.now() - started, started });
    };
    const timer = setTimeout(() => {
      finish({ status: 0, body: undefined, text: '', headers: {}, error: 'TIMEOUT' });
      req.destroy();
    }, options.hangMs ?? 20_000);
    const req = request(
      url + path,
      {
        method: options.method ?? 'POST',
        agent: options.agent,
        headers: Object.fromEntries(
          Object.entries({ Authorization: `Bearer ${TOKEN}`, ...options.headers }).filter(
            ([name, value]) => !(name === 'Authorization' && value === ''),
          ),
        ),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e: NodeJS.ErrnoException) =>
          finish({ status: 0, body: undefined, text: '', headers: {}, error: e.code ?? e.message }),
        );
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          finish({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      finish({ status: 0, body: undefined, text: '', headers: {}, error: e.code ?? e.message }),
    );
    req.end(payload);
  });
}

/** The `code` field of an error body, or undefined. */
export function codeOf(result: CallResult): string | undefined {
  const body = result.body as { code?: unknown } | undefined;
  return typeof body?.code === 'string' ? body.code : undefined;
}

/** Median of a list of numbers (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The given quantile (0..1) of a list of numbers. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/** Counts of `status code` pairs, for diagnostics in assertion messages. */
export function tally(results: readonly CallResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const key = `${r.status} ${codeOf(r) ?? r.error ?? ''}`.trim();
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** A raw TCP socket to the broker's main listener, collecting everything it receives. */
export interface RawClient {
  readonly socket: Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves when the server closes the connection (or it errors), with ms since connect. */
  readonly closed: Promise<number>;
}

/** Opens a raw socket to `http://host:port`. */
export async function rawConnect(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const opened = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<number>((resolve) => {
    socket.on('close', () => resolve(performance.now() - opened));
    socket.on('error', () => {});
  });
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed };
}

/** Writes raw bytes, waits for the server to close (or `waitMs`), and returns what came back. */
export async function rawExchange(url: string, bytes: string | Buffer, waitMs = 3000): Promise<string> {
  const client = await rawConnect(url);
  client.socket.write(bytes);
  await Promise.race([client.closed, sleep(waitMs)]);
  client.socket.destroy();
  return client.received();
}

/** Parses the first HTTP response in raw text: status and JSON body (undefined when not JSON). */
export function parseRawResponse(text: string): { status: number; body: unknown; head: string } {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
  const split = text.indexOf('\r\n\r\n');
  const head = split === -1 ? text : text.slice(0, split);
  let rest = split === -1 ? '' : text.slice(split + 4);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) rest = rest.slice(0, Number(length[1]));
  else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    const size = Number.parseInt(rest, 16);
    rest = rest.slice(rest.indexOf('\r\n') + 2).slice(0, size);
  }
  let body: unknown;
  try {
    body = JSON.parse(rest);
  } catch {
    body = undefined;
  }
  return { status: match ? Number(match[1]) : 0, body, head };
}
