// Load generator: a connection storm — short-lived invocations, each opening a fresh connection for one GET.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { loadMain, Recorder } from '../lib/load-child.js';
import type { LoadResult } from '../lib/loadgen.js';

/** How an invocation reaches Redis. */
export type StormTarget =
  | { readonly kind: 'http'; readonly url: string; readonly token: string }
  /**
   * POST / over HTTPS, a new connection each, trusting the CA in `caFile`. `resume`: each invocation offers the
   * session ticket the last one got (as a warm function's HTTP client keeps it); otherwise a full handshake each.
   */
  | {
      readonly kind: 'https';
      readonly url: string;
      readonly token: string;
      readonly caFile: string;
      readonly resume: boolean;
    }
  | { readonly kind: 'ws'; readonly url: string }
  | { readonly kind: 'ioredis'; readonly port: number };

/** Arguments from the harness. */
export type StormArgs = StormTarget & {
  readonly total: number;
  readonly concurrency: number;
  readonly key: string;
  readonly value: string;
};

/**
 * What an HTTPS invocation needs: the CA to trust, and the session ticket to offer when resuming. The CA is in a
 * secure context made once per process, as a function's HTTP client trusts the system's CAs loaded once per process:
 * passing `ca` with each request instead made Node parse the CA and build a new certificate store for every
 * invocation (about 0.35 ms of the load generator's CPU each), a cost of this harness, not of a cold function.
 */
interface TlsClient {
  readonly secureContext: SecureContext;
  readonly resume: boolean;
  session: Buffer | undefined;
}

/** POST / over a connection of its own (no agent, `Connection: close`), as a cold function would. */
function viaHttp(url: string, token: string, key: string, tls?: TlsClient): Promise<unknown> {
  const body = JSON.stringify(['get', key]);
  const send = tls ? httpsRequest : request;
  return new Promise((resolveGet, reject) => {
    const req = send(
      `${url}/`,
      {
        method: 'POST',
        agent: false,
        ...(tls
          ? {
              secureContext: tls.secureContext,
              ...(tls.resume && tls.session ? { session: tls.session } : {}),
            }
          : {}),
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} ${text.slice(0, 120)}`));
          else resolveGet((JSON.parse(text) as { result?: unknown }).result);
        });
        res.on('error', reject);
      },
    );
    if (tls?.resume) {
      req.once('socket', (socket) =>
        socket.once('session', (session: Buffer) => {
          tls.session = session;
        }),
      );
    }
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a WebSocket, sends one GET, closes on the reply. */
function viaWs(url: string, key: string): Promise<unknown> {
  return new Promise((resolveGet, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => ws.send(JSON.stringify({ id: 1, cmd: ['GET', key] })));
    ws.once('message', (data) => {
      const reply = JSON.parse(String(data)) as { result?: unknown; error?: string };
      ws.close();
      if (reply.error !== undefined) reject(new Error(reply.error));
      else resolveGet(reply.result);
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)),
    );
    ws.once('close', (code) => reject(new Error(`closed ${code} before a reply`)));
  });
}

/** A new ioredis client per invocation: connect, GET, QUIT. */
async function viaIoredis(port: number, key: string): Promise<unknown> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    const value = await redis.get(key);
    await redis.quit();
    return value;
  } catch (err) {
    redis.disconnect();
    throw err;
  }
}

async function main(args: StormArgs): Promise<LoadResult> {
  const tls: TlsClient | undefined =
    args.kind === 'https'
      ? {
          secureContext: createSecureContext({ ca: readFileSync(args.caFile) }),
          resume: args.resume,
          session: undefined,
        }
      : undefined;
  const invoke = (): Promise<unknown> => {
    switch (args.kind) {
      case 'http':
        return viaHttp(args.url, args.token, args.key);
      case 'https':
        return viaHttp(args.url, args.token, args.key, tls);
      case 'ws':
        return viaWs(args.url, args.key);
      case 'ioredis':
        return viaIoredis(args.port, args.key);
    }
  };
  const rec = new Recorder();
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < args.total) {
      issued += 1;
      const start = process.hrtime.bigint();
      try {
        const value = await invoke();
        if (value !== args.value) throw new Error(`unexpected value ${JSON.stringify(value)}`);
        rec.done(start);
      } catch (err) {
        rec.failed(err);
      }
    }
  };
  rec.begin();
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  rec.end();
  return rec.result();
}

loadMain(main);
