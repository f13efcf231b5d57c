// The main pool: a fixed set of multiplexed, pipelined Redis connections, each with its own batcher.
import { Command, type Redis, type RedisOptions } from 'ioredis';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../telemetry.js';
import { Batcher } from './batcher.js';
import { openConnection } from './redis-connection.js';
import type { RedisTarget } from './target.js';
import { roleOffset } from './replication.js';

/** Hears the primary's offset after a batch of writes: undefined when ROLE failed or the server is not a primary. */
export type OffsetWaiter = (offset: number | undefined) => void;

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
  /** Times progress for the stall watchdog and runs it; the real clock by default. */
  readonly clock?: Clock | undefined;
  /** Hears every offset a ROLE after a batch reported (see PooledConnection.offsetAfterBatch). */
  readonly onOffset?: ((offset: number) => void) | undefined;
}

/** Bytes a connection may be owed before pick() stops preferring it (see PooledConnection.load). */
const HEAVY_BYTES = 256 * 1024;

/** Bytes of expected reply that weigh as much as one command in flight when connections are compared. */
const BYTES_PER_COMMAND = 4096;

/**
 * One pooled connection. `inflight` counts commands written and not yet answered. Reply bytes are counted as they
 * are read off the socket, before ioredis parses them: a bulk reply of megabytes makes the connection heavy as soon
 * as its first chunk arrives, not once it is whole, and the average reply size tells how much the commands still
 * in flight will bring (issue 17: one client's large values must not sit in front of everyone's small replies).
 */
export class PooledConnection {
  readonly redis: Redis;
  readonly batcher: Batcher;
  inflight = 0;
  /** When this connection last made progress: a reply arrived, or it went from idle to busy (the clock's `now()`). */
  lastProgressAt = 0;
  /** Bytes read from Redis on this connection (its current socket), counted before the parser sees them. */
  #bytesRead = 0;
  /** #bytesRead when the last reply settled: what was read since belongs to replies still arriving. */
  #settledMark = 0;
  /** Average bytes per reply (exponential, 1/8 weight): what each command still in flight is expected to bring. */
  #replyBytes = 0;
  readonly #clock: Clock;
  /** Who waits for the offset after the batch being collected (see offsetAfterBatch). */
  #offsetWaiters: OffsetWaiter[] = [];
  readonly #onOffset: ((offset: number) => void) | undefined;

  constructor(redis: Redis, batcher: Batcher, clock: Clock = realClock, onOffset?: (offset: number) => void) {
    this.redis = redis;
    this.batcher = batcher;
    this.#clock = clock;
    this.#onOffset = onOffset;
    batcher.trailer(this.#role);
    // ioredis attaches its parser on 'connect' with prependListener; prepending after it makes this count first, so
    // that a reply settling in the same chunk sees its bytes.
    redis.on('connect', () => {
      this.#bytesRead = 0;
      this.#settledMark = 0;
      redis.stream?.prependListener('data', this.#read);
    });
  }

  readonly #read = (chunk: Buffer): void => {
    this.#bytesRead += chunk.length;
  };

  /** Reply bytes this connection is expected to carry still: the average reply for each command, plus a reply in progress. */
  get pendingReplyBytes(): number {
    if (this.inflight === 0) return 0;
    return this.inflight * this.#replyBytes + (this.#bytesRead - this.#settledMark);
  }

  /** How loaded the connection is, in commands: each command in flight, plus one per BYTES_PER_COMMAND owed. */
  get load(): number {
    return this.inflight + Math.floor(this.pendingReplyBytes / BYTES_PER_COMMAND);
  }

  /** Whether the connection carries (or is owed) large replies: requests that can go elsewhere should. */
  get heavy(): boolean {
    return this.pendingReplyBytes >= HEAVY_BYTES;
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /**
   * Calls `waiter` with the primary's replication offset once the batch being collected (commands written to the
   * batcher in this turn, the caller's included) has run: a ROLE written last in that batch tells it, one ROLE for
   * every request of the batch, without a round trip of its own (issue 20). Call it after writing the commands.
   */
  offsetAfterBatch(waiter: OffsetWaiter): void {
    this.#offsetWaiters.push(waiter);
  }

  /** The batcher's trailer: a ROLE when someone waits for the offset after this batch. */
  readonly #role = (): Command | undefined => {
    const waiters = this.#offsetWaiters;
    if (waiters.length === 0) return undefined;
    this.#offsetWaiters = [];
    const role = new Command('ROLE', []);
    this.wrote(1);
    role.promise.then(
      (reply: unknown) => {
        this.settled(this.#clock.now());
        const offset = roleOffset(reply);
        if (offset !== undefined) this.#onOffset?.(offset);
        for (const waiter of waiters) waiter(offset);
      },
      () => {
        this.settled(this.#clock.now());
        for (const waiter of waiters) waiter(undefined);
      },
    );
    return role;
  };

  /** Counts `commands` handed to the batcher. */
  wrote(commands: number): void {
    if (this.inflight === 0) {
      this.lastProgressAt = this.#clock.now();
      // Bytes read while idle answered ioredis's own commands (the ready check, CLIENT SETNAME, COMMAND at start).
      this.#settledMark = this.#bytesRead;
    }
    this.inflight += commands;
  }

  /**
   * Counts one command settled (reply, error or connection loss) at `now` (the clock's `now()`); returns the bytes
   * read since the previous one settled (its reply's size, roughly). Bound: requests keep it as a callback.
   */
  readonly settled = (now: number): number => {
    this.inflight--;
    this.lastProgressAt = now;
    // Replies of one chunk settle together: the first is given the chunk and the others 0, which averages out.
    const bytes = this.#bytesRead - this.#settledMark;
    this.#settledMark = this.#bytesRead;
    this.#replyBytes += (bytes - this.#replyBytes) / 8;
    return bytes;
  };
}

/** A point-in-time view of the pool, for /readyz, metrics and tests. */
export interface PoolStats {
  readonly size: number;
  readonly ready: number;
  /** Commands written and not yet answered, over all connections. */
  readonly inflight: number;
  /** Reply bytes the connections are expected to carry still (see PooledConnection.pendingReplyBytes). */
  readonly pendingReplyBytes: number;
}

/** Commands in flight on a connection below which pick() keeps using it rather than spreading (see pick). */
const FILL_FIRST = 256;

export class Pool {
  readonly #connections: PooledConnection[];
  readonly #logger: Logger;
  #wasUp = false;
  #nextStart = 0;
  /** Where #forLargeReplies starts looking: after its last choice, so that ties go round robin. */
  #nextLargeStart = 0;
  readonly #listeners: ((up: boolean) => void)[] = [];
  readonly #watchdog: ClockTimer;
  readonly #clock: Clock;

  constructor(options: PoolOptions, logger: Logger, telemetry: Telemetry) {
    this.#logger = logger;
    this.#clock = options.clock ?? realClock;
    // A Redis that hangs with its socket open (SIGSTOP, a half-open TCP connection) never answers and never closes:
    // without this, its commands would hold their admission slots and /readyz would stay green.
    this.#watchdog = this.#clock.setInterval(
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
      return new PooledConnection(
        redis,
        new Batcher(redis, (n) => telemetry.batchWritten(n)),
        this.#clock,
        options.onOffset,
      );
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
   * The connection for a request: the first ready one with fewer than FILL_FIRST commands in flight and no large
   * replies owed, else the least loaded (see leastBusy). Commands then travel together: one write to Redis per turn
   * of the event loop and one read for their replies, instead of one per connection each, which costs the broker and
   * Redis CPU per command. The other connections take over when the first is busy, carrying large replies, down or
   * reconnecting.
   *
   * A request whose client gets large replies (`largeReplies`, see RequestTiming) never goes to the first ready
   * connection while another is ready: large replies share the other connections, least loaded first, so that
   * however many clients pull large values, one connection is left where small replies do not queue behind
   * megabytes (at most N-1 of N connections carry large replies, as a pooler keeps a reserve for short queries).
   */
  pick(largeReplies = false): PooledConnection | undefined {
    const connections = this.#connections;
    if (largeReplies) return this.#forLargeReplies() ?? this.leastBusy();
    for (const connection of connections) {
      if (connection.inflight < FILL_FIRST && connection.ready && !connection.heavy) return connection;
    }
    return this.leastBusy();
  }

  /**
   * The least loaded ready connection other than the first ready one (kept for small replies); undefined when fewer
   * than two are ready. Ties go round robin, as in leastBusy.
   */
  #forLargeReplies(): PooledConnection | undefined {
    const connections = this.#connections;
    let reserved: PooledConnection | undefined;
    for (const connection of connections) {
      if (connection.ready) {
        reserved = connection;
        break;
      }
    }
    const start = this.#nextLargeStart;
    let best: PooledConnection | undefined;
    let bestLoad = 0;
    let bestAt = 0;
    for (let i = 0; i < connections.length; i++) {
      const at = (start + i) % connections.length;
      const connection = connections[at]!;
      if (connection === reserved || !connection.ready) continue;
      const load = connection.load;
      if (best === undefined || load < bestLoad) {
        best = connection;
        bestLoad = load;
        bestAt = at;
      }
    }
    this.#nextLargeStart = (bestAt + 1) % connections.length;
    return best;
  }

  /**
   * The ready connection with the least load (commands in flight and reply bytes owed), or undefined when Redis is
   * unreachable. Ties go round robin, so idle sockets pinned at their first request spread over the pool instead of
   * piling on the first one.
   */
  leastBusy(): PooledConnection | undefined {
    const connections = this.#connections;
    const start = this.#nextStart;
    this.#nextStart = (start + 1) % connections.length;
    let best: PooledConnection | undefined;
    let bestLoad = 0;
    for (let i = 0; i < connections.length; i++) {
      const connection = connections[(start + i) % connections.length]!;
      if (!connection.ready) continue;
      const load = connection.load;
      if (best === undefined || load < bestLoad) {
        best = connection;
        bestLoad = load;
      }
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
    let pendingReplyBytes = 0;
    for (const connection of this.#connections) {
      if (connection.ready) ready++;
      inflight += connection.inflight;
      pendingReplyBytes += connection.pendingReplyBytes;
    }
    return { size: this.#connections.length, ready, inflight, pendingReplyBytes };
  }

  /** Closes every connection: QUIT lets written commands finish; a connection that does not answer is cut. */
  async close(timeoutMs = 1000): Promise<void> {
    this.#clock.clearInterval(this.#watchdog);
    await Promise.allSettled(
      this.#connections.map(async ({ redis }) => {
        if (redis.status !== 'ready') {
          redis.disconnect();
          return;
        }
        const timer = this.#clock.setTimeout(() => redis.disconnect(), timeoutMs);
        try {
          await redis.quit();
        } catch {
          redis.disconnect();
        } finally {
          this.#clock.clearTimeout(timer);
        }
      }),
    );
  }

  #cutStalled(stallMs: number): void {
    const now = this.#clock.now();
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
