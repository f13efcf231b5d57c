// The main pool: a fixed set of multiplexed, pipelined Redis connections, each with its own batcher.
import { performance } from 'node:perf_hooks';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';
import type { Telemetry } from '../telemetry.js';
import { Batcher } from './batcher.js';
import { openConnection } from './redis-connection.js';
import type { RedisTarget } from './target.js';

/** Options of a pool; the target comes from SLUICE_REDIS_URL (or the Sentinels) and the TLS options. */
export interface PoolOptions {
  /** Where Redis is and how to reach it (see RedisTarget). */
  readonly target: RedisTarget;
  readonly size: number;
  readonly connectTimeoutMs: number;
  /** Prefix of the CLIENT SETNAME of each connection, e.g. `sluice-main`. */
  readonly name: string;
  /** A connection with commands in flight and no reply for this long is cut and reopened (SLUICE_REDIS_STALL_MS). */
  readonly stallMs: number;
  /** ioredis options over the defaults of every connection (script users skip the INFO ready check). */
  readonly connection?: RedisOptions;
}

/** One pooled connection. `inflight` counts commands written and not yet answered. */
export class PooledConnection {
  readonly redis: Redis;
  readonly batcher: Batcher;
  inflight = 0;
  /** When this connection last made progress: a reply arrived, or it went from idle to busy (performance.now()). */
  lastProgressAt = 0;

  constructor(redis: Redis, batcher: Batcher) {
    this.redis = redis;
    this.batcher = batcher;
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Counts `commands` handed to the batcher. */
  wrote(commands: number): void {
    if (this.inflight === 0) this.lastProgressAt = performance.now();
    this.inflight += commands;
  }

  /**
   * Counts one command settled (reply, error or connection loss) at `now` (performance.now()). Bound: requests keep
   * it as a callback.
   */
  readonly settled = (now: number): void => {
    this.inflight--;
    this.lastProgressAt = now;
  };
}

/** A point-in-time view of the pool, for /readyz, metrics and tests. */
export interface PoolStats {
  readonly size: number;
  readonly ready: number;
  /** Commands written and not yet answered, over all connections. */
  readonly inflight: number;
}

/** Commands in flight on a connection below which pick() keeps using it rather than spreading (see pick). */
const FILL_FIRST = 256;

export class Pool {
  readonly #connections: PooledConnection[];
  readonly #logger: Logger;
  #wasUp = false;
  #nextStart = 0;
  readonly #listeners: ((up: boolean) => void)[] = [];
  readonly #watchdog: NodeJS.Timeout;

  constructor(options: PoolOptions, logger: Logger, telemetry: Telemetry) {
    this.#logger = logger;
    // A Redis that hangs with its socket open (SIGSTOP, a half-open TCP connection) never answers and never closes:
    // without this, its commands would hold their admission slots and /readyz would stay green.
    this.#watchdog = setInterval(
      () => this.#cutStalled(options.stallMs),
      Math.min(1000, options.stallMs / 4),
    );
    this.#watchdog.unref();
    this.#connections = Array.from({ length: options.size }, (_, i) => {
      const redis = openConnection(
        {
          target: options.target,
          name: `${options.name}-${i}`,
          connectTimeoutMs: options.connectTimeoutMs,
        },
        options.connection,
      );
      redis.on('error', () => {}); // Reported through status changes below; ioredis would otherwise print them.
      redis.on('ready', () => this.#statusChanged());
      redis.on('close', () => this.#statusChanged());
      redis.on('reconnecting', () => telemetry.redisReconnect(options.name));
      return new PooledConnection(redis, new Batcher(redis, (n) => telemetry.batchWritten(n)));
    });
  }

  /** Calls `listener` whenever the pool goes from no ready connection to some, or back. */
  onStatus(listener: (up: boolean) => void): void {
    this.#listeners.push(listener);
  }

  /** Opens every connection. Resolves once all have tried; a pool that could not connect keeps retrying by itself. */
  async start(): Promise<void> {
    await Promise.allSettled(this.#connections.map((c) => c.redis.connect()));
    this.#statusChanged();
  }

  /**
   * The connection for a request that is not pinned: the first ready one with fewer than FILL_FIRST commands in
   * flight, else the least busy (see leastBusy). Commands then travel together: one write to Redis per turn of the
   * event loop and one read for their replies, instead of one per connection each, which costs the broker and Redis
   * CPU per command. The other connections take over when the first is busy, down or reconnecting.
   */
  pick(): PooledConnection | undefined {
    for (const connection of this.#connections) {
      if (connection.inflight < FILL_FIRST && connection.ready) return connection;
    }
    return this.leastBusy();
  }

  /**
   * The ready connection with the fewest commands in flight, or undefined when Redis is unreachable. Ties go round
   * robin, so idle sockets pinned at their first request spread over the pool instead of piling on the first one.
   */
  leastBusy(): PooledConnection | undefined {
    const connections = this.#connections;
    const start = this.#nextStart;
    this.#nextStart = (start + 1) % connections.length;
    let best: PooledConnection | undefined;
    for (let i = 0; i < connections.length; i++) {
      const connection = connections[(start + i) % connections.length]!;
      if (connection.ready && (best === undefined || connection.inflight < best.inflight)) best = connection;
    }
    return best;
  }

  /** Whether `connection` is one of this pool's. */
  owns(connection: PooledConnection): boolean {
    return this.#connections.includes(connection);
  }

  /** Any ready connection: runs start-up queries such as COMMAND. */
  any(): Redis | undefined {
    return this.pick()?.redis;
  }

  stats(): PoolStats {
    let ready = 0;
    let inflight = 0;
    for (const connection of this.#connections) {
      if (connection.ready) ready++;
      inflight += connection.inflight;
    }
    return { size: this.#connections.length, ready, inflight };
  }

  /** Closes every connection: QUIT lets written commands finish; a connection that does not answer is cut. */
  async close(timeoutMs = 1000): Promise<void> {
    clearInterval(this.#watchdog);
    await Promise.allSettled(
      this.#connections.map(async ({ redis }) => {
        if (redis.status !== 'ready') {
          redis.disconnect();
          return;
        }
        const timer = setTimeout(() => redis.disconnect(), timeoutMs);
        try {
          await redis.quit();
        } catch {
          redis.disconnect();
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  #cutStalled(stallMs: number): void {
    const now = performance.now();
    const stalled = this.#connections.filter(
      (c) => c.ready && c.inflight > 0 && now - c.lastProgressAt >= stallMs,
    );
    if (stalled.length === 0) return;
    // Idle connections reach the same Redis and are what pick() would hand the next requests: reopen them too, so
    // a hung Redis is found by their handshake (and requests fail fast) instead of by each request's timeout.
    const idle = this.#connections.filter((c) => c.ready && c.inflight === 0);
    this.#logger.warn(
      { event: 'redis_stalled', inflight: stalled.map((c) => c.inflight), idle: idle.length, stallMs },
      'a Redis connection answered nothing for SLUICE_REDIS_STALL_MS; closing and reopening it and the idle ones',
    );
    // destroy, not end: a stopped peer never answers the FIN, so 'close' (and ioredis's reconnect) would never come.
    for (const connection of [...stalled, ...idle]) connection.redis.stream?.destroy();
  }

  #statusChanged(): void {
    const up = this.#connections.some((c) => c.ready);
    if (up === this.#wasUp) return;
    this.#wasUp = up;
    if (up) this.#logger.info({ event: 'redis_up' }, 'Redis is reachable');
    else
      this.#logger.warn({ event: 'redis_down' }, 'Redis is unreachable; requests fail fast until it returns');
    for (const listener of this.#listeners) listener(up);
  }
}
