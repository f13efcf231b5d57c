// The shared subscriber: one Redis connection for the whole process, reference-counted per channel and pattern.
import type { Redis } from 'ioredis';
import { type Clock, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { openConnection } from '../redis/redis-connection.js';
import type { RedisTarget } from '../redis/target.js';
import { type ConnectionBudget, UNBOUNDED } from '../redis/connection-budget.js';
import type { Telemetry } from '../telemetry.js';
import type { PubSubHub, PubSubListener, PubSubMessage, SubscriptionKind } from './types.js';

/** Longest channel or pattern name accepted, in bytes. Redis has no limit; this keeps one listener from pinning megabytes. */
export const MAX_NAME_BYTES = 1024;

/** Names per SUBSCRIBE when re-subscribing after a reconnect, so one command stays a reasonable size. */
const RESUBSCRIBE_BATCH = 1000;

/** What the hub needs to open its connection and bound itself. */
export interface SubscriberHubOptions {
  /** Where Redis is and how to reach it (see RedisTarget). */
  readonly target: RedisTarget;
  readonly connectTimeoutMs: number;
  /** Most channels + patterns held at once (SLUICE_SUBSCRIBER_MAX_CHANNELS). */
  readonly maxNames: number;
  /** CLIENT SETNAME of the shared connection. Default `sluice-subscriber`. */
  readonly connectionName?: string;
  /** Arms the connect timeout; the real clock by default. */
  readonly clock?: Clock | undefined;
  /** The connection is taken from it (SLUICE_MAX_REDIS_CONNECTIONS); unbounded by default. */
  readonly budget?: ConnectionBudget | undefined;
  /** Whose subscriber this is in errors, e.g. ` of tenant "app1"`; '' by default. */
  readonly owner?: string | undefined;
}

/** A snapshot for metrics and tests. */
export interface HubStats {
  /** Channels held on Redis. */
  readonly channels: number;
  /** Patterns held on Redis. */
  readonly patterns: number;
  /** (listener, name) pairs. */
  readonly listeners: number;
  /** Messages a transport could not deliver (reported through `noteDropped`). */
  readonly dropped: number;
  /** Messages received from Redis since start (each counted once, however many listeners). */
  readonly messages: number;
}

interface Entry {
  readonly kind: SubscriptionKind;
  readonly key: string;
  readonly name: Buffer;
  readonly listeners: Set<PubSubListener>;
  /** Whether SUBSCRIBE was written for this entry (so a reconnect must repeat it, and leaving must undo it). */
  sent: boolean;
  /** Settles when Redis confirmed the SUBSCRIBE that created this entry. */
  confirmed: Promise<void>;
}

// Channels are keyed by their bytes (latin1 maps each byte to one char). ioredis hands pattern names of pmessage
// events over already decoded as UTF-8, so patterns are keyed by that decoding, and must be valid UTF-8 to be exact.
function keyOf(kind: SubscriptionKind, name: Buffer): string {
  return kind === 'channel' ? name.toString('latin1') : name.toString('utf8');
}

function isUtf8(name: Buffer): boolean {
  return Buffer.from(name.toString('utf8'), 'utf8').equals(name);
}

/** Why a channel or pattern name is refused whatever the hub holds (empty, too long, a pattern not UTF-8), or undefined. */
export function nameRefusal(kind: SubscriptionKind, name: Buffer): SluiceError | undefined {
  const what = kind === 'channel' ? 'channel' : 'pattern';
  if (name.length === 0)
    return new SluiceError('SLUICE_ERR_PUBSUB_BAD_NAME', `ERR expected a ${what} name, got an empty one`);
  if (name.length > MAX_NAME_BYTES)
    return new SluiceError(
      'SLUICE_ERR_PUBSUB_BAD_NAME',
      `ERR the ${what} name is ${name.length} bytes; the limit is ${MAX_NAME_BYTES}`,
    );
  if (kind === 'pattern' && !isUtf8(name))
    return new SluiceError('SLUICE_ERR_PUBSUB_BAD_NAME', 'ERR a pattern must be valid UTF-8');
  return undefined;
}

function unavailable(cause?: unknown): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_REDIS_UNAVAILABLE',
    'ERR the shared subscriber connection to Redis is not up; nothing was subscribed',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * One subscriber connection (opened on first use) shared by every SSE stream and WebSocket of the process. Each
 * channel or pattern is subscribed on Redis once, however many listeners hold it, and released when the last one
 * leaves. After a reconnect every held name is subscribed again (ioredis's own autoResubscribe stays off: it would
 * re-send names as strings, and the hub must know when it is done).
 */
export class SubscriberHub implements PubSubHub {
  readonly #options: SubscriberHubOptions;
  readonly #logger: Logger;
  readonly #telemetry: Telemetry;
  readonly #channels = new Map<string, Entry>();
  readonly #patterns = new Map<string, Entry>();
  /** Reverse index for unsubscribeAll. */
  readonly #held = new Map<PubSubListener, Set<Entry>>();
  #redis: Redis | undefined;
  #readyWait: Promise<Redis> | undefined;
  #pairs = 0;
  #dropped = 0;
  #messages = 0;
  #closed = false;

  constructor(options: SubscriberHubOptions, logger: Logger, telemetry: Telemetry) {
    this.#options = options;
    this.#logger = logger;
    this.#telemetry = telemetry;
  }

  /**
   * Why a subscription would be refused before anything is sent (bad name, limit, closing), or undefined. Transports
   * call it before answering 200 so refusals stay ordinary JSON errors.
   */
  check(kind: SubscriptionKind, name: Buffer): SluiceError | undefined {
    if (this.#closed)
      return new SluiceError(
        'SLUICE_ERR_DRAINING',
        'ERR the broker is shutting down; retry on another instance',
      );
    const bad = nameRefusal(kind, name);
    if (bad) return bad;
    if (this.#mapOf(kind).has(keyOf(kind, name))) return undefined;
    const held = this.#channels.size + this.#patterns.size;
    if (held >= this.#options.maxNames)
      return new SluiceError(
        'SLUICE_ERR_PUBSUB_LIMIT',
        `ERR the broker already holds ${held} channels and patterns${this.#options.owner ?? ''} (SLUICE_SUBSCRIBER_MAX_CHANNELS)`,
      );
    return undefined;
  }

  /** Opens the shared connection if needed; resolves once it is ready, rejects with REDIS_UNAVAILABLE otherwise. */
  async connect(): Promise<void> {
    await this.#ready();
  }

  async subscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): Promise<void> {
    const refusal = this.check(kind, name);
    if (refusal) throw refusal;
    const map = this.#mapOf(kind);
    const key = keyOf(kind, name);
    let entry = map.get(key);
    if (!entry) {
      const created: Entry = {
        kind,
        key,
        name: Buffer.from(name),
        listeners: new Set(),
        sent: false,
        confirmed: Promise.resolve(),
      };
      map.set(key, created);
      created.confirmed = this.#send(created);
      // A failed SUBSCRIBE (connection lost before the confirmation) frees the name; waiting listeners are told below.
      created.confirmed.catch(() => {
        if (map.get(key) === created) map.delete(key);
      });
      entry = created;
    }
    this.#attach(entry, listener);
    try {
      await entry.confirmed;
    } catch (error) {
      this.#detach(entry, listener);
      throw error;
    }
  }

  unsubscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): void {
    const entry = this.#mapOf(kind).get(keyOf(kind, name));
    if (entry) this.#detach(entry, listener);
  }

  unsubscribeAll(listener: PubSubListener): void {
    const entries = this.#held.get(listener);
    if (!entries) return;
    for (const entry of [...entries]) this.#detach(entry, listener);
  }

  /** Counts a message a transport could not deliver (e.g. SSE cannot carry a newline). */
  noteDropped(count = 1): void {
    this.#dropped += count;
  }

  stats(): HubStats {
    return {
      channels: this.#channels.size,
      patterns: this.#patterns.size,
      listeners: this.#pairs,
      dropped: this.#dropped,
      messages: this.#messages,
    };
  }

  /** Tells every listener it is closed, forgets every name and closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down');
    const listeners = [...this.#held.keys()];
    this.#held.clear();
    this.#channels.clear();
    this.#patterns.clear();
    this.#pairs = 0;
    for (const listener of listeners) {
      try {
        listener.closed(reason);
      } catch (error) {
        this.#logger.error({ err: error }, 'a pub/sub listener threw on close');
      }
    }
    if (this.#redis) (this.#options.budget ?? UNBOUNDED).give();
    this.#redis?.disconnect();
  }

  #mapOf(kind: SubscriptionKind): Map<string, Entry> {
    return kind === 'channel' ? this.#channels : this.#patterns;
  }

  #attach(entry: Entry, listener: PubSubListener): void {
    if (entry.listeners.has(listener)) return;
    entry.listeners.add(listener);
    this.#pairs++;
    const entries = this.#held.get(listener);
    if (entries) entries.add(entry);
    else this.#held.set(listener, new Set([entry]));
  }

  #detach(entry: Entry, listener: PubSubListener): void {
    if (!entry.listeners.delete(listener)) return;
    this.#pairs--;
    const entries = this.#held.get(listener);
    entries?.delete(entry);
    if (entries?.size === 0) this.#held.delete(listener);
    if (entry.listeners.size > 0) return;
    const map = this.#mapOf(entry.kind);
    if (map.get(entry.key) !== entry) return;
    map.delete(entry.key);
    // Commands on one connection are answered in order, so an UNSUBSCRIBE right after a pending SUBSCRIBE, or a new
    // SUBSCRIBE right after this UNSUBSCRIBE, leaves Redis in the state the hub expects.
    const redis = this.#redis;
    if (entry.sent && redis?.status === 'ready') {
      this.#command(redis, entry.kind, 'unsubscribe', [entry.name]).catch(() => {}); // A lost connection drops every subscription anyway, and the name is no longer held.
    }
  }

  /** Writes the SUBSCRIBE for a new entry once the connection is ready; settles with Redis's confirmation. */
  async #send(entry: Entry): Promise<void> {
    const redis = await this.#ready();
    // Everyone may have left while the connection opened; then there is nothing to subscribe.
    if (this.#mapOf(entry.kind).get(entry.key) !== entry) return;
    entry.sent = true;
    try {
      await this.#command(redis, entry.kind, 'subscribe', [entry.name]);
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** The connection once it is ready, opening it on first use. Many callers share one wait. */
  #ready(): Promise<Redis> {
    if (this.#closed) return Promise.reject(unavailable());
    if (this.#redis === undefined) {
      const refused = (this.#options.budget ?? UNBOUNDED).take(
        `the subscriber connection${this.#options.owner ?? ''}`,
      );
      if (refused) return Promise.reject(refused);
      this.#redis = this.#open();
    }
    const redis = this.#redis;
    if (redis.status === 'ready') return Promise.resolve(redis);
    this.#readyWait ??= new Promise<Redis>((resolve, reject) => {
      const clock = this.#options.clock ?? realClock;
      const done = () => {
        clock.clearTimeout(timer);
        redis.off('ready', onReady);
        this.#readyWait = undefined;
      };
      const onReady = () => {
        done();
        resolve(redis);
      };
      const timer = clock.setTimeout(() => {
        done();
        reject(unavailable());
      }, this.#options.connectTimeoutMs);
      redis.on('ready', onReady);
      if (redis.status === 'wait') redis.connect().catch(() => {}); // Failures surface as the timeout above.
    });
    return this.#readyWait;
  }

  #open(): Redis {
    const redis = openConnection({
      target: this.#options.target,
      name: this.#options.connectionName ?? 'sluice-subscriber',
      connectTimeoutMs: this.#options.connectTimeoutMs,
    });
    redis.on('error', (error: Error) =>
      this.#logger.debug({ err: error, event: 'subscriber_error' }, 'subscriber connection error'),
    );
    redis.on('reconnecting', () => this.#telemetry.redisReconnect('subscriber'));
    redis.on('ready', () => this.#resubscribe(redis));
    redis.on('messageBuffer', (channel: Buffer, data: Buffer) => {
      const entry = this.#channels.get(channel.toString('latin1'));
      if (entry) this.#fanOut(entry, { channel, data });
    });
    redis.on('pmessageBuffer', (pattern: string, channel: Buffer, data: Buffer) => {
      const entry = this.#patterns.get(pattern);
      if (entry) this.#fanOut(entry, { channel, data, pattern: entry.name });
    });
    return redis;
  }

  /**
   * SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE/PUNSUBSCRIBE with binary names. `call` goes through the same subscriber-mode
   * bookkeeping as ioredis's named methods, whose types only take strings for patterns.
   */
  #command(
    redis: Redis,
    kind: SubscriptionKind,
    verb: 'subscribe' | 'unsubscribe',
    names: Buffer[],
  ): Promise<unknown> {
    return redis.call(kind === 'channel' ? verb : `p${verb}`, ...names);
  }

  /** One message object for every listener of the name, so transports can encode it once. */
  #fanOut(entry: Entry, message: PubSubMessage): void {
    this.#messages++;
    for (const listener of entry.listeners) {
      try {
        listener.deliver(message);
      } catch (error) {
        this.#logger.error({ err: error }, 'a pub/sub listener threw on deliver');
      }
    }
  }

  /** After a (re)connect: subscribe again to every name that had been sent on an earlier connection. */
  #resubscribe(redis: Redis): void {
    for (const kind of ['channel', 'pattern'] as const) {
      const names = [...this.#mapOf(kind).values()].filter((e) => e.sent).map((e) => e.name);
      if (names.length === 0) continue;
      this.#logger.info(
        { event: 'subscriber_resubscribe', kind, count: names.length },
        're-subscribing after a reconnect',
      );
      for (let i = 0; i < names.length; i += RESUBSCRIBE_BATCH) {
        const batch = names.slice(i, i + RESUBSCRIBE_BATCH);
        // If this fails the connection is gone again, and the next 'ready' repeats the whole list.
        this.#command(redis, kind, 'subscribe', batch).catch((error: unknown) =>
          this.#logger.warn({ event: 'subscriber_resubscribe_failed', err: error }, 're-subscribing failed'),
        );
      }
    }
  }
}
