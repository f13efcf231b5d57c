// createClient(): the facade over a transport — call, a method per command, pipeline/multi, pub/sub, close.

import type { Arg } from './args.js';
import { utf8Decode } from './base64.js';
import type { CommandName } from './commands.js';
import { type BinaryValue, type Value, decodeValue } from './decode.js';
import { SluiceError, replyError } from './errors.js';
import { type FetchLike, HttpTransport } from './http-transport.js';
import { type Pipeline, PipelineBuilder } from './pipeline.js';
import { withCommands } from './proxy.js';
import type { RequestKind, Transport } from './transport.js';
import { type WebSocketConstructor, WsTransport } from './ws-transport.js';

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Base URL of the broker (or Upstash): `https://host[:port][/prefix]`. */
  url: string;
  /** Bearer token. */
  token: string;
  /** `'http'` (default): the Upstash REST API, one request per tick of commands. `'ws'`: one lazy WebSocket. */
  transport?: 'http' | 'ws';
  /** WebSocket constructor for `'ws'` when there is no global one (e.g. `ws` on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Deadline the broker applies to every request, in milliseconds; default: the broker's own. */
  deadlineMs?: number;
  /** `fetch` for `'http'`; default: the global `fetch`. */
  fetch?: FetchLike;
}

/** A command method: resolves to the reply with strings as UTF-8 text; a Redis or broker error rejects. */
export type CommandFn = (...args: Arg[]) => Promise<Value>;

/** Stops a subscription. */
export type Unsubscribe = () => void;

/** Options of `subscribe` / `psubscribe`. */
export interface SubscribeOptions {
  /** Called when the subscription ends on its own after it started (stream ended, refused on re-subscribe). */
  onError?: (error: Error) => void;
}

/** The named methods of a {@link Client}. */
export interface ClientMethods {
  /** Sends any command: `call('SET', 'k', 'v')`. Strings come back as UTF-8 text. */
  call(name: string, ...args: Arg[]): Promise<Value>;
  /** As `call`, with strings as exact bytes (`Uint8Array`). */
  callBuffer(name: string, ...args: Arg[]): Promise<BinaryValue>;
  /** A client on the same connection whose requests carry this deadline (milliseconds) to the broker. */
  withDeadline(deadlineMs: number): Client;
  /** A builder whose `exec()` sends its commands as one non-atomic `/pipeline` request (or WS `pipeline` frame). */
  pipeline(): Pipeline<Value>;
  /** As `pipeline()`, with strings as exact bytes. */
  pipeline(options: { binary: true }): Pipeline<BinaryValue>;
  /** A builder whose `exec()` runs its commands atomically (MULTI … EXEC). */
  multi(): Pipeline<Value>;
  /** As `multi()`, with strings as exact bytes. */
  multi(options: { binary: true }): Pipeline<BinaryValue>;
  /**
   * Listens to a channel. Resolves once the broker confirmed the subscription (a message published after that
   * is delivered), with the function that stops it. Over HTTP (SSE) payloads are text, so bytes that are not
   * UTF-8 do not survive; over WS they do.
   */
  subscribe(
    channel: string,
    onMessage: (message: string, channel: string) => void,
    options?: SubscribeOptions,
  ): Promise<Unsubscribe>;
  /** As `subscribe`, for a glob-style pattern; `onMessage` also gets the pattern. */
  psubscribe(
    pattern: string,
    onMessage: (message: string, channel: string, pattern: string) => void,
    options?: SubscribeOptions,
  ): Promise<Unsubscribe>;
  /** As `subscribe`, with payloads as bytes. */
  subscribeBuffer(
    channel: string,
    onMessage: (message: Uint8Array, channel: string) => void,
    options?: SubscribeOptions,
  ): Promise<Unsubscribe>;
  /** Ends subscriptions, lets pending requests finish, and closes the socket. Later calls fail. */
  close(): Promise<void>;
}

/** A Sluice client: {@link ClientMethods} plus a method per Redis command (`get`, `hset`, `scriptLoad`, …). */
export type Client = ClientMethods & { [K in Exclude<CommandName, keyof ClientMethods>]: CommandFn };

class SluiceClient {
  readonly #transport: Transport;
  readonly #deadlineMs: number | undefined;

  constructor(transport: Transport, deadlineMs: number | undefined) {
    this.#transport = transport;
    this.#deadlineMs = deadlineMs;
  }

  async #send(
    kind: RequestKind,
    commands: Arg[][],
    binary: boolean,
  ): Promise<Array<Value | BinaryValue | SluiceError>> {
    const items = await this.#transport.send(kind, commands, { deadlineMs: this.#deadlineMs });
    return items.map((item) =>
      'error' in item
        ? replyError(item.error, item.code)
        : decodeValue(item.result, this.#transport.base64, binary),
    );
  }

  async #one(command: Arg[], binary: boolean): Promise<Value | BinaryValue> {
    const [reply] = await this.#send('cmd', [command], binary);
    if (reply instanceof SluiceError) throw reply;
    return reply ?? null;
  }

  call(...command: Arg[]): Promise<Value> {
    return this.#one(command, false) as Promise<Value>;
  }

  callBuffer(...command: Arg[]): Promise<BinaryValue> {
    return this.#one(command, true) as Promise<BinaryValue>;
  }

  withDeadline(deadlineMs: number): Client {
    return wrap(new SluiceClient(this.#transport, deadlineMs));
  }

  #builder(kind: RequestKind, options?: { binary: true }): Pipeline<Value> {
    return new PipelineBuilder((commands) => this.#send(kind, commands, options?.binary === true))
      .proxy as Pipeline<Value>;
  }

  pipeline(options?: { binary: true }): Pipeline<Value> {
    return this.#builder('pipeline', options);
  }

  multi(options?: { binary: true }): Pipeline<Value> {
    return this.#builder('multi', options);
  }

  subscribe(channel: string, onMessage: (m: string, c: string) => void, options?: SubscribeOptions) {
    return this.#transport.subscribe(
      'subscribe',
      channel,
      (p) => onMessage(utf8Decode(p.data), p.channel),
      options?.onError ?? (() => {}),
    );
  }

  subscribeBuffer(
    channel: string,
    onMessage: (m: Uint8Array, c: string) => void,
    options?: SubscribeOptions,
  ) {
    return this.#transport.subscribe(
      'subscribe',
      channel,
      (p) => onMessage(p.data, p.channel),
      options?.onError ?? (() => {}),
    );
  }

  psubscribe(
    pattern: string,
    onMessage: (m: string, c: string, p: string) => void,
    options?: SubscribeOptions,
  ) {
    return this.#transport.subscribe(
      'psubscribe',
      pattern,
      (p) => onMessage(utf8Decode(p.data), p.channel, p.pattern ?? pattern),
      options?.onError ?? (() => {}),
    );
  }

  close(): Promise<void> {
    return this.#transport.close();
  }
}

function wrap(client: SluiceClient): Client {
  return withCommands(client, (words, args) => client.call(...words, ...args)) as unknown as Client;
}

/**
 * Creates a client. Nothing connects until the first call: importing and creating do no I/O.
 * @example
 * const redis = createClient({ url: process.env.SLUICE_URL!, token: process.env.SLUICE_TOKEN! });
 * await redis.set('k', 'v');
 * const v = await redis.get('k'); // 'v'
 */
export function createClient(options: ClientOptions): Client {
  const transport =
    options.transport === 'ws'
      ? new WsTransport({ url: options.url, token: options.token, WebSocket: options.WebSocket })
      : new HttpTransport({ url: options.url, token: options.token, fetch: options.fetch });
  return wrap(new SluiceClient(transport, options.deadlineMs));
}
