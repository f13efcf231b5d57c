// The WebSocket transport (docs/websocket.md): one lazy socket, requests multiplexed by id, subscriptions re-made after a drop.

import { decodeBase64, utf8Encode } from './base64.js';
import { CLIENT_CODES, SluiceError, replyError } from './errors.js';
import { buildRequestFrame, buildSubscribeFrame, parseIncomingFrame } from './frames.js';
import type { Arg } from './args.js';
import type { Push, RawItem, RequestKind, RequestOptions, SubscribeKind, Transport } from './transport.js';
import type { RequestId } from './wire.js';

/** The events this transport reads from a socket (standard `WebSocket` and `ws` both provide them). */
export interface WebSocketEventLike {
  /** Event name. */
  type: string;
  /** Message payload: a string for text frames. */
  data?: unknown;
  /** Close code. */
  code?: number;
  /** Close reason. */
  reason?: string;
  /** Error text (`ws`'s ErrorEvent). */
  message?: string;
}

/** The part of a WebSocket this transport uses. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(
    type: 'open' | 'message' | 'close' | 'error',
    listener: (event: WebSocketEventLike) => void,
  ): void;
}

/**
 * A WebSocket constructor. A constructor passed in explicitly is called as `new WebSocket(url, { headers })`
 * (as `ws` accepts) to send the token in `Authorization`; the global one is called with the URL alone and
 * the token goes in `?_token=`.
 */
export type WebSocketConstructor = new (
  url: string,
  options?: { headers: Record<string, string> },
) => WebSocketLike;

/** Settings of a {@link WsTransport}. */
export interface WsTransportOptions {
  /** Base URL of the broker, `http(s)://…`; the socket goes to `ws(s)://…/ws`. */
  url: string;
  /** Bearer token. */
  token: string;
  /** WebSocket constructor; default: the global `WebSocket`. */
  WebSocket?: WebSocketConstructor | undefined;
}

type Pending = {
  resolve: (items: RawItem[]) => void;
  reject: (error: unknown) => void;
  kind: string;
  sent: boolean;
};
type Listener = { onPush: (push: Push) => void; onError: (error: Error) => void };
type Subscription = { kind: SubscribeKind; name: string; listeners: Set<Listener>; ready: Promise<unknown> };

const RESUBSCRIBE_MAX_DELAY_MS = 5000;

/** Speaks Sluice's `/ws` protocol with `?encoding=base64`; never re-sends a request that was written. */
export class WsTransport implements Transport {
  readonly base64 = true;
  readonly #url: string;
  readonly #token: string;
  readonly #Ctor: WebSocketConstructor | undefined;
  readonly #explicit: boolean;
  #socket: WebSocketLike | undefined;
  #open = false;
  #outbox: [RequestId, string][] = [];
  #nextId = 1;
  #pending = new Map<RequestId, Pending>();
  #subs = new Map<string, Subscription>();
  #closed = false;
  #idle: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delayMs = 100;

  constructor(options: WsTransportOptions) {
    this.#url = `${options.url.replace(/\/$/, '').replace(/^http/, 'ws')}/ws?encoding=base64`;
    this.#token = options.token;
    this.#explicit = options.WebSocket !== undefined;
    this.#Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  send(kind: RequestKind, commands: Arg[][], options: RequestOptions): Promise<RawItem[]> {
    return this.#request(kind, (id) => buildRequestFrame(id, kind, commands, options.deadlineMs));
  }

  #request(kind: string, build: (id: RequestId) => string): Promise<RawItem[]> {
    if (this.#closed) return Promise.reject(new SluiceError('the client is closed', CLIENT_CODES.closed));
    try {
      this.#connect();
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#nextId++;
    const frame = build(id);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, kind, sent: false });
      if (this.#open) this.#write(id, frame);
      else this.#outbox.push([id, frame]);
    });
  }

  #write(id: RequestId, frame: string): void {
    const pending = this.#pending.get(id);
    if (pending) pending.sent = true;
    this.#socket!.send(frame);
  }

  #connect(): void {
    if (this.#socket) return;
    const Ctor = this.#Ctor;
    if (!Ctor) throw new SluiceError('no global WebSocket: pass one, e.g. `ws`', CLIENT_CODES.connect);
    const socket = this.#explicit
      ? new Ctor(this.#url, { headers: { authorization: `Bearer ${this.#token}` } })
      : new Ctor(`${this.#url}&_token=${encodeURIComponent(this.#token)}`);
    this.#socket = socket;
    let lastError = '';
    socket.addEventListener('open', () => {
      this.#open = true;
      const outbox = this.#outbox;
      this.#outbox = [];
      for (const [id, frame] of outbox) this.#write(id, frame);
    });
    socket.addEventListener('message', (event) => this.#onMessage(event.data));
    socket.addEventListener('error', (event) => {
      lastError = event.message ?? '';
    });
    socket.addEventListener('close', (event) => {
      if (socket !== this.#socket) return;
      this.#socket = undefined;
      this.#open = false;
      this.#outbox = [];
      const why = `socket closed (${event.code ?? 1006}${event.reason ? `: ${event.reason}` : ''}) ${lastError}`;
      const pending = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of pending) {
        p.reject(
          this.#closed
            ? new SluiceError('the client is closed', CLIENT_CODES.closed)
            : p.sent
              ? new SluiceError(`${why}; the request may have run`, CLIENT_CODES.network)
              : new SluiceError(`${why}; nothing was sent`, CLIENT_CODES.connect),
        );
      }
      this.#settled();
      if (this.#subs.size > 0 && !this.#closed) this.#scheduleResubscribe();
    });
  }

  #onMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let frame: ReturnType<typeof parseIncomingFrame>;
    try {
      frame = parseIncomingFrame(data);
    } catch {
      return;
    }
    if (!frame) return;
    if ('push' in frame) {
      const { type, channel, data: payload } = frame.push;
      const pattern = frame.push.type === 'pmessage' ? frame.push.pattern : undefined;
      const sub = this.#subs.get(type === 'message' ? `subscribe:${channel}` : `psubscribe:${pattern}`);
      const push = { channel, pattern, data: decodeBase64(payload) ?? utf8Encode(payload) };
      for (const listener of sub?.listeners ?? []) listener.onPush(push);
      return;
    }
    const pending = frame.id === null ? undefined : this.#pending.get(frame.id);
    if (!pending || frame.id === null) return;
    this.#pending.delete(frame.id);
    if ('items' in frame) pending.resolve(frame.items);
    else if ('error' in frame.item && pending.kind !== 'cmd') {
      pending.reject(replyError(frame.item.error, frame.item.code));
    } else pending.resolve([frame.item]);
    this.#settled();
  }

  #settled(): void {
    if (this.#pending.size === 0) this.#idle?.();
  }

  subscribe(
    kind: SubscribeKind,
    name: string,
    onPush: (push: Push) => void,
    onError: (error: Error) => void,
  ): Promise<() => void> {
    const key = `${kind}:${name}`;
    const listener = { onPush, onError };
    let sub = this.#subs.get(key);
    if (!sub) {
      const ready = this.#request(kind, (id) => buildSubscribeFrame(id, kind, [name]));
      sub = { kind, name, listeners: new Set(), ready };
      this.#subs.set(key, sub);
      ready.catch(() => this.#subs.get(key) === sub && this.#subs.delete(key));
    }
    const current = sub;
    current.listeners.add(listener);
    return current.ready.then(
      () => () => {
        current.listeners.delete(listener);
        if (current.listeners.size > 0 || this.#subs.get(key) !== current) return;
        this.#subs.delete(key);
        if (this.#open) {
          const un = kind === 'subscribe' ? 'unsubscribe' : 'punsubscribe';
          this.#request(un, (id) => buildSubscribeFrame(id, un, [name])).catch(() => {});
        }
      },
      (error: unknown) => {
        current.listeners.delete(listener);
        throw error;
      },
    );
  }

  #scheduleResubscribe(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      for (const sub of this.#subs.values()) {
        sub.ready = this.#request(sub.kind, (id) => buildSubscribeFrame(id, sub.kind, [sub.name])).then(
          () => {
            this.#delayMs = 100;
          },
          (error: unknown) => {
            // A dropped socket schedules the next attempt itself; a refusal ends the subscription.
            if (error instanceof SluiceError && error.code.startsWith('SLUICE_ERR_CLIENT_')) return;
            this.#subs.delete(`${sub.kind}:${sub.name}`);
            for (const listener of sub.listeners) listener.onError(error as Error);
          },
        );
      }
    }, this.#delayMs);
    this.#delayMs = Math.min(this.#delayMs * 2, RESUBSCRIBE_MAX_DELAY_MS);
  }

  /** Stops subscriptions, waits for pending replies, then closes the socket with 1000. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#subs.clear();
    if (this.#pending.size > 0 && this.#socket) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
    }
    this.#socket?.close(1000);
  }
}
