// The SSE routes: /subscribe/<channel> and /psubscribe/<pattern> on the shared subscriber, /monitor on its own connection.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { noPermission, type Principal, permitsStream, type TokensChange } from '../protocol/auth.js';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  dataEvent,
  decodeStreamName,
  errorComment,
  fitsOneLine,
  KEEPALIVE,
  monitorLine,
} from '../protocol/sse-events.js';
import type { BackendOf } from '../exec/backend.js';
import type { ConnectionBudget } from '../redis/connection-budget.js';
import type { PubSubListener, PubSubMessage, SubscriptionKind } from '../pubsub/types.js';
import { openConnection } from '../redis/redis-connection.js';
import type { Telemetry } from '../telemetry.js';
import type { Responder } from '../entrance/respond.js';
import type { StreamHandler } from '../entrance/entrance.js';

/** What the SSE routes need. */
export interface SseOptions {
  /** Where a caller's subscriptions and MONITOR streams go: the broker's own Redis, or its tenant's. */
  readonly backends: BackendOf;
  /** MONITOR connections are taken from it (SLUICE_MAX_REDIS_CONNECTIONS). */
  readonly budget: ConnectionBudget;
  readonly responder: Responder;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
  /** Bytes that may wait in one response before its reader is cut off (SLUICE_SUBSCRIBER_BUFFER_BYTES). */
  readonly bufferBytes: number;
  /** Interval of keep-alive comments (SLUICE_SSE_KEEPALIVE_MS). */
  readonly keepaliveMs: number;
  /** Runs the keep-alive and the MONITOR connect timeout; the real clock by default. */
  readonly clock?: Clock | undefined;
}

/** A snapshot for metrics and tests. */
export interface SseStats {
  /** Open subscribe/psubscribe streams. */
  readonly streams: number;
  /** Open monitor streams. */
  readonly monitors: number;
  /** Streams cut off because their reader fell more than the buffer behind. */
  readonly cutOff: number;
  /** Messages not sent because SSE cannot carry them (a newline). */
  readonly dropped: number;
}

type Route = 'subscribe' | 'psubscribe' | 'monitor';

/** One open event stream with a bounded send buffer. */
class EventStream {
  readonly res: ServerResponse;
  readonly route: Route;
  /** Whose stream it is: a reload of the tokens file that removes the token ends it. */
  readonly principal: Principal;
  #ended = false;
  readonly #limit: number;
  readonly #onOverflow: (stream: EventStream) => void;
  /** Events that arrived before the stream's first line was written (the subscribe confirmation). */
  #held: Buffer[] | undefined = [];
  #heldBytes = 0;
  /** Undoes the stream's subscription or connection; runs once. */
  cleanup: () => void = () => {};

  constructor(
    res: ServerResponse,
    route: Route,
    principal: Principal,
    limit: number,
    onOverflow: (stream: EventStream) => void,
  ) {
    this.res = res;
    this.route = route;
    this.principal = principal;
    this.#limit = limit;
    this.#onOverflow = onOverflow;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Writes the first line, then whatever arrived meanwhile. */
  open(first: Buffer): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    this.#heldBytes = 0;
    this.send(first);
    for (const chunk of held) this.send(chunk);
  }

  /**
   * Queues bytes for the reader, or cuts it off when more than the limit already waits. A chunk is always accepted
   * when nothing waits, so one large message does not cut off a reader that keeps up; memory per stream stays below
   * the limit plus one message.
   */
  send(chunk: Buffer): void {
    if (this.#ended) return;
    if (this.#held) {
      if (this.#heldBytes > 0 && this.#heldBytes + chunk.length > this.#limit) return this.#onOverflow(this);
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      return;
    }
    const waiting = this.res.writableLength;
    if (waiting > 0 && waiting + chunk.length > this.#limit) return this.#onOverflow(this);
    this.res.write(chunk);
  }

  /** Ends the stream (optionally with a last chunk); `abort` drops buffered bytes and the socket instead. */
  end(last?: Buffer, abort = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held = undefined;
    this.cleanup();
    if (abort) this.res.destroy();
    else this.res.end(last);
  }
}

/** Serves the SSE routes. One per broker; `close()` ends every stream (drain). */
export class SseHandler implements StreamHandler {
  readonly #options: SseOptions;
  readonly #clock: Clock;
  readonly #streams = new Set<EventStream>();
  /** Each message is encoded once for all its listeners (null: it cannot be carried). */
  readonly #encoded = new WeakMap<PubSubMessage, Buffer | null>();
  #keepalive: ClockTimer | undefined;
  #cutOff = 0;
  #dropped = 0;
  #closed = false;

  constructor(options: SseOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
  }

  handle(req: IncomingMessage, res: ServerResponse, route: Route, principal: Principal, name: string): void {
    const work =
      route === 'monitor'
        ? this.#monitor(req, res, principal)
        : this.#subscribe(req, res, route, principal, name);
    work.catch((error: unknown) => {
      this.#options.logger.error({ err: error, route }, 'unexpected error in an SSE stream');
      if (!res.headersSent)
        this.#options.responder.error(
          res,
          route,
          new SluiceError('SLUICE_ERR_INTERNAL', 'ERR internal error'),
        );
      else res.destroy();
    });
  }

  stats(): SseStats {
    let monitors = 0;
    for (const stream of this.#streams) if (stream.route === 'monitor') monitors++;
    return { streams: this.#streams.size - monitors, monitors, cutOff: this.#cutOff, dropped: this.#dropped };
  }

  /**
   * The tokens file was reloaded: streams of removed tokens (or tokens moved to another tenant or tenant Redis) end with
   * SLUICE_ERR_AUTH_REVOKED. A stream's rights were checked when it opened; other rights apply to new streams.
   */
  revoke(change: TokensChange): void {
    const removed = new Set(change.removed);
    for (const stream of [...this.#streams]) {
      if (removed.has(stream.principal))
        stream.end(errorComment('SLUICE_ERR_AUTH_REVOKED', 'ERR token revoked'));
    }
  }

  /** Ends every stream and refuses new ones (the broker drains). */
  close(): void {
    this.#closed = true;
    for (const stream of [...this.#streams]) stream.end();
  }

  async #subscribe(
    req: IncomingMessage,
    res: ServerResponse,
    route: 'subscribe' | 'psubscribe',
    principal: Principal,
    rawName: string,
  ): Promise<void> {
    const { responder } = this.#options;
    const { hub } = this.#options.backends(principal.tenant);
    if (!permitsStream(principal, route)) return responder.error(res, route, noPermission(route));
    const kind: SubscriptionKind = route === 'subscribe' ? 'channel' : 'pattern';
    const name = decodeStreamName(rawName);
    const refusal = fitsOneLine(name)
      ? hub.check(kind, name)
      : new SluiceError('SLUICE_ERR_PUBSUB_BAD_NAME', 'ERR a name with a newline cannot be carried over SSE');
    if (refusal) return responder.error(res, route, refusal);
    // Wait for Redis before answering, so an outage is an ordinary 503 rather than a stream that ends at once.
    try {
      await hub.connect();
    } catch (error) {
      return responder.error(res, route, error as Error);
    }
    if (req.destroyed || res.destroyed) return;
    const stream = this.#start(res, route, principal);
    if (!stream) return;
    const listener: PubSubListener = {
      deliver: (message) => this.#deliver(stream, message),
      closed: (reason) =>
        stream.end(errorComment((reason as SluiceError).code ?? 'SLUICE_ERR_INTERNAL', reason.message)),
    };
    stream.cleanup = () => hub.unsubscribe(kind, name, listener);
    try {
      await hub.subscribe(kind, name, listener);
    } catch (error) {
      const e = error as SluiceError;
      return stream.end(errorComment(e.code ?? 'SLUICE_ERR_INTERNAL', e.message));
    }
    // The count is always 1: one name per stream, however many streams share the Redis subscription
    // (docs/rest-api.md, pub/sub).
    stream.open(dataEvent(route, name, '1'));
  }

  async #monitor(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const { responder, logger } = this.#options;
    if (!permitsStream(principal, 'monitor')) return responder.error(res, 'monitor', noPermission('monitor'));
    if (this.#closed)
      return responder.error(
        res,
        'monitor',
        new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down'),
      );
    // MONITOR takes a connection over for good, so each stream gets its own; ioredis's monitor mode (what
    // `redis.monitor()` builds) parses the lines. No reconnect: a lost connection ends the stream.
    const refused = this.#options.budget.take('a MONITOR connection');
    if (refused) return responder.error(res, 'monitor', refused);
    let given = false;
    const giveBack = () => {
      if (given) return;
      given = true;
      this.#options.budget.give();
    };
    const redis = openConnection(
      {
        target: this.#options.backends(principal.tenant).target,
        name: 'sluice-monitor',
        connectTimeoutMs: this.#options.connectTimeoutMs,
      },
      { monitor: true, retryStrategy: () => null },
    );
    redis.on('error', (error: Error) =>
      logger.debug({ err: error, event: 'monitor_error' }, 'monitor connection error'),
    );
    // No reconnects: once it ends, the connection is gone for good.
    redis.once('end', giveBack);
    let gone = false;
    const onGone = () => {
      gone = true;
      redis.disconnect();
    };
    res.once('close', onGone);
    try {
      await this.#monitoring(redis);
    } catch (error) {
      redis.disconnect();
      res.off('close', onGone);
      return responder.error(res, 'monitor', error as Error);
    }
    res.off('close', onGone);
    if (gone || req.destroyed || res.destroyed) return void redis.disconnect();
    const stream = this.#start(res, 'monitor', principal);
    if (!stream) return void redis.disconnect();
    stream.cleanup = () => redis.disconnect();
    redis.on('monitor', (time: string, args: string[], source: string, database: string) => {
      const line = Buffer.from(monitorLine(time, args, source, database));
      if (fitsOneLine(line)) stream.send(dataEvent(line));
    });
    redis.on('end', () =>
      stream.end(errorComment('SLUICE_ERR_REDIS_CONNECTION_LOST', 'ERR the monitor connection closed')),
    );
    stream.open(dataEvent('"OK"'));
  }

  /** Connects a monitor connection and waits for MONITOR's OK, or fails as REDIS_UNAVAILABLE. */
  #monitoring(redis: Redis): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (cause?: unknown) => {
        this.#clock.clearTimeout(timer);
        redis.off('monitoring', ok);
        reject(
          new SluiceError(
            'SLUICE_ERR_REDIS_UNAVAILABLE',
            'ERR could not open a MONITOR connection to Redis',
            cause === undefined ? undefined : { cause },
          ),
        );
      };
      const ok = () => {
        this.#clock.clearTimeout(timer);
        redis.off('end', fail);
        resolve();
      };
      const timer = this.#clock.setTimeout(() => fail(), this.#options.connectTimeoutMs);
      redis.once('monitoring', ok);
      redis.once('end', fail);
      redis.connect().catch(() => {}); // A failed connect ends the connection (no retries), which rejects above.
    });
  }

  /** Sends the headers at once (the client treats the stream as open when they arrive) and tracks the stream. */
  #start(res: ServerResponse, route: Route, principal: Principal): EventStream | undefined {
    const { responder, telemetry, bufferBytes } = this.#options;
    if (this.#closed) {
      responder.error(res, route, new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down'));
      return undefined;
    }
    res.writeHead(200, [
      'Content-Type',
      'text/event-stream',
      'Cache-Control',
      'no-cache',
      'upstash-sync-token',
      responder.syncToken(res.req.headers['upstash-sync-token']),
      // Proxies such as nginx buffer responses unless told not to; an event stream must not be held back.
      'X-Accel-Buffering',
      'no',
    ]);
    res.flushHeaders();
    telemetry.httpResponse(route, 200);
    const stream = new EventStream(res, route, principal, bufferBytes, (s) => this.#overflow(s));
    this.#streams.add(stream);
    res.once('close', () => {
      stream.end();
      this.#streams.delete(stream);
      if (this.#streams.size === 0) this.#stopKeepalive();
    });
    if (res.req.method === 'HEAD') {
      stream.end();
      return undefined;
    }
    this.#startKeepalive();
    return stream;
  }

  #deliver(stream: EventStream, message: PubSubMessage): void {
    let encoded = this.#encoded.get(message);
    if (encoded === undefined) {
      const { channel, data, pattern } = message;
      const carried = pattern ? fitsOneLine(pattern, channel, data) : fitsOneLine(channel, data);
      encoded = carried
        ? pattern
          ? dataEvent('pmessage', pattern, channel, data)
          : dataEvent('message', channel, data)
        : null;
      this.#encoded.set(message, encoded);
    }
    if (encoded) return stream.send(encoded);
    this.#dropped++;
    this.#options.backends(stream.principal.tenant).hub.noteDropped();
  }

  #overflow(stream: EventStream): void {
    this.#cutOff++;
    this.#options.telemetry.refused('subscriber_overflow');
    const error = new SluiceError(
      'SLUICE_ERR_PUBSUB_SLOW_LISTENER',
      `ERR the listener fell more than ${this.#options.bufferBytes} bytes behind (SLUICE_SUBSCRIBER_BUFFER_BYTES)`,
    );
    this.#options.logger.warn(
      { event: 'subscriber_overflow', route: stream.route, code: error.code },
      error.message,
    );
    // Destroy rather than end: ending would wait for the reader to take the bytes already queued.
    stream.end(undefined, true);
  }

  // One timer for all streams rather than one each; it only runs while a stream is open.
  #startKeepalive(): void {
    if (this.#keepalive) return;
    this.#keepalive = this.#clock.setInterval(() => {
      for (const stream of this.#streams) stream.send(KEEPALIVE);
    }, this.#options.keepaliveMs);
    this.#keepalive.unref();
  }

  #stopKeepalive(): void {
    this.#clock.clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }
}
