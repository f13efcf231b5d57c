// The Upstash REST transport: one /pipeline request per tick of commands, /multi-exec, SSE subscriptions.

import { type Arg, plainArg } from './args.js';
import { utf8Encode } from './base64.js';
import { CLIENT_CODES, SluiceError, replyError } from './errors.js';
import { type JsonValue, parseJson } from './json.js';
import { SseParser } from './sse.js';
import {
  type Push,
  type RawItem,
  type RequestKind,
  type RequestOptions,
  type SubscribeKind,
  type Transport,
  toRawItem,
} from './transport.js';
import { HEADERS, newerSyncToken } from './wire.js';

/** The `fetch` this transport calls (the global one by default). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Settings of an {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Base URL of the broker (or of Upstash): `https://host[:port][/prefix]`. */
  url: string;
  /** Bearer token. */
  token: string;
  /** `fetch` to use; default: the global `fetch`. */
  fetch?: FetchLike | undefined;
}

/** Most commands one auto-pipelined request carries, as the official client's auto-pipelining. */
export const MAX_BATCH_COMMANDS = 1000;

type Waiter = { command: Arg[]; resolve: (items: RawItem[]) => void; reject: (e: unknown) => void };

/**
 * Speaks the Upstash REST API with `Upstash-Encoding: base64`. Single commands issued in the same tick travel
 * together as one `POST /pipeline` (at most {@link MAX_BATCH_COMMANDS} each); nothing is ever re-sent.
 */
export class HttpTransport implements Transport {
  readonly base64 = true;
  readonly #url: string;
  readonly #token: string;
  readonly #fetch: FetchLike;
  // Batches waiting for the end of the tick, one per deadline (a request carries a single deadline header).
  #batches = new Map<number | undefined, Waiter[]>();
  #syncToken = '';
  #streams = new Set<AbortController>();

  constructor(options: HttpTransportOptions) {
    this.#url = options.url.replace(/\/$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
  }

  send(kind: RequestKind, commands: Arg[][], options: RequestOptions): Promise<RawItem[]> {
    const plain = commands.map((c) => c.map(plainArg));
    const binaryAt = plain.map((c) => c.indexOf(undefined));
    if (kind === 'cmd') {
      const command = commands[0] ?? [];
      const at = binaryAt[0] ?? -1;
      // Bytes that are not UTF-8 cannot travel in JSON; the last argument can travel raw, as a path-style body.
      if (at > 0 && at === command.length - 1 && binaryAt.indexOf(-1) < 0) {
        const path = plain[0]!.slice(0, at).map((a) => encodeURIComponent(String(a)));
        return this.#post(`/${path.join('/')}`, command[at] as Uint8Array, options).then((body) => [
          toItem(body),
        ]);
      }
      if (at < 0) {
        return new Promise((resolve, reject) => {
          if (this.#batches.size === 0) queueMicrotask(() => this.#flush());
          const batch = this.#batches.get(options.deadlineMs) ?? [];
          this.#batches.set(options.deadlineMs, batch);
          batch.push({ command, resolve, reject });
        });
      }
    }
    if (binaryAt.some((at) => at >= 0)) {
      const why =
        'an argument is bytes that are not UTF-8: over HTTP only the last argument of a lone command';
      return Promise.reject(
        new SluiceError(`${why} can be binary; use the ws transport`, CLIENT_CODES.badArg),
      );
    }
    return this.#post(kind === 'multi' ? '/multi-exec' : '/pipeline', JSON.stringify(plain), options).then(
      (body) => toItems(body, commands.length),
    );
  }

  #flush(): void {
    const batches = this.#batches;
    this.#batches = new Map();
    for (const [deadlineMs, waiters] of batches) {
      for (let i = 0; i < waiters.length; i += MAX_BATCH_COMMANDS) {
        const chunk = waiters.slice(i, i + MAX_BATCH_COMMANDS);
        const body = JSON.stringify(chunk.map((w) => w.command.map(plainArg)));
        this.#post('/pipeline', body, { deadlineMs }).then(
          (reply) => {
            const items = toItems(reply, chunk.length);
            for (const [j, w] of chunk.entries()) w.resolve([items[j]!]);
          },
          (error: unknown) => {
            for (const w of chunk) w.reject(error);
          },
        );
      }
    }
  }

  #headers(options: RequestOptions, extra?: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      'content-type': 'application/json',
      [HEADERS.encoding]: 'base64',
      [HEADERS.syncToken]: this.#syncToken,
      ...extra,
    };
    if (options.deadlineMs !== undefined) headers[HEADERS.deadline] = String(options.deadlineMs);
    return headers;
  }

  async #fetchOnce(path: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await this.#fetch(this.#url + path, init);
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      // The request may have reached the broker and run: report it, never send it again.
      throw new SluiceError(
        `request to ${path} failed: ${String(cause)}`,
        CLIENT_CODES.network,
        undefined,
        cause,
      );
    }
    this.#syncToken = newerSyncToken(this.#syncToken, res.headers.get(HEADERS.syncToken) ?? '');
    return res;
  }

  async #post(path: string, body: string | Uint8Array, options: RequestOptions): Promise<JsonValue> {
    return read(path, await this.#fetchOnce(path, { method: 'POST', headers: this.#headers(options), body }));
  }

  subscribe(
    kind: SubscribeKind,
    name: string,
    onPush: (push: Push) => void,
    onError: (error: Error) => void,
  ): Promise<() => void> {
    const abort = new AbortController();
    this.#streams.add(abort);
    const stop = (): void => {
      this.#streams.delete(abort);
      abort.abort();
    };
    return new Promise((resolve, reject) => {
      let started = false;
      const fail = (error: unknown): void => {
        stop();
        if (started) onError(error as Error);
        else reject(error);
      };
      const run = async (): Promise<void> => {
        const init = {
          method: 'POST',
          headers: this.#headers({}, { accept: 'text/event-stream', 'cache-control': 'no-cache' }),
          body: '[]',
          signal: abort.signal,
        };
        const path = `/${kind}/${encodeURIComponent(name)}`;
        const res = await this.#fetchOnce(path, init);
        if (!res.ok) await read(path, res);
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        const parser = new SseParser();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const event of parser.push(decoder.decode(value, { stream: true }))) {
            if (event.type === 'message' || event.type === 'pmessage') {
              onPush({ ...event, data: utf8Encode(event.data) });
            } else if (event.type === kind && !started) {
              started = true;
              resolve(stop);
            }
          }
        }
        throw new SluiceError(`the ${kind} stream of ${name} ended`, CLIENT_CODES.network);
      };
      run().catch((error: unknown) => {
        if (!abort.signal.aborted) fail(error);
      });
    });
  }

  async close(): Promise<void> {
    for (const abort of this.#streams) abort.abort();
    this.#streams.clear();
  }
}

/** The JSON body of a reply; a non-2xx reply throws its `{"error": …, "code"?: …}` as a SluiceError. */
async function read(path: string, res: Response): Promise<JsonValue> {
  let json: JsonValue;
  try {
    json = parseJson(await res.text());
  } catch (cause) {
    throw new SluiceError(
      `reply of ${path} is not JSON (HTTP ${res.status})`,
      CLIENT_CODES.badReply,
      res.status,
      cause,
    );
  }
  if (!res.ok) {
    const item = toRawItem(json);
    if (item && 'error' in item) throw replyError(item.error, item.code, res.status);
    throw replyError(`HTTP ${res.status}`, undefined, res.status);
  }
  return json;
}

function toItem(v: JsonValue | undefined): RawItem {
  const item = toRawItem(v);
  if (!item) throw new SluiceError('reply item has neither result nor error', CLIENT_CODES.badReply);
  return item;
}

function toItems(body: JsonValue, count: number): RawItem[] {
  if (!Array.isArray(body) || body.length !== count) {
    throw new SluiceError(`expected ${count} reply items`, CLIENT_CODES.badReply);
  }
  return body.map(toItem);
}
