// The blocking pool: a bounded set of lazily opened Redis connections, each running one blocking command at a time.
import { Command, type Redis } from 'ioredis';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import { type Outcome, outcomeOf, type RequestTiming } from './outcome.js';
import { type CappedCommand, capBlockingTimeout } from './blocking-timeout.js';
import type { PreparedCommand, Reply } from './command.js';
import type { Telemetry } from '../telemetry.js';
import { NotSentError } from './batcher.js';
import { openConnection } from './redis-connection.js';
import type { RedisTarget } from './target.js';
import { type ConnectionBudget, UNBOUNDED } from './connection-budget.js';

/** Options of the blocking pool; see SLUICE_BLOCKING_POOL_SIZE, SLUICE_BLOCKING_MAX_MS, SLUICE_BLOCKING_IDLE_MS. */
export interface BlockingPoolOptions {
  /** Where Redis is and how to reach it (see RedisTarget). */
  readonly target: RedisTarget;
  /** Most connections open at once (SLUICE_BLOCKING_POOL_SIZE). */
  readonly size: number;
  /** Longest block in ms; a timeout of 0 or beyond it is capped to it (SLUICE_BLOCKING_MAX_MS). */
  readonly maxMs: number;
  /** An idle connection is closed after this many ms (SLUICE_BLOCKING_IDLE_MS). */
  readonly idleMs: number;
  /** Added to the block time to make the reply deadline, in ms (SLUICE_COMMAND_TIMEOUT_MS). */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /**
   * Another connection to the same Redis (a main-pool one), used to send `CLIENT UNBLOCK` when a caller goes
   * away; undefined while none is up.
   */
  readonly control: () => Redis | undefined;
  /** Times commands, arms reply deadlines and idle timers; the real clock by default. */
  readonly clock?: Clock | undefined;
  /** Each connection is taken from it (SLUICE_MAX_REDIS_CONNECTIONS); unbounded by default. */
  readonly budget?: ConnectionBudget | undefined;
  /** The setting `size` comes from and whose pool it is, for the full-pool error. Default `SLUICE_BLOCKING_POOL_SIZE`. */
  readonly sizeSetting?: string | undefined;
  /** Whose connections these are in errors, e.g. ` of tenant "app1"`; '' by default. */
  readonly owner?: string | undefined;
}

/** A point-in-time view of the blocking pool, for metrics and tests. */
export interface BlockingPoolStats {
  /** The bound (SLUICE_BLOCKING_POOL_SIZE). */
  readonly size: number;
  /** Connections running a command. */
  readonly busy: number;
  /** Connections open or opening. */
  readonly open: number;
}

/** One connection of the pool and what it is doing. */
class Slot {
  readonly redis: Redis;
  /** CLIENT ID, read right after connecting, for CLIENT UNBLOCK. */
  id: string | undefined;
  busy = true;
  dead = false;
  /** Counts the commands run on this slot, so a late CLIENT UNBLOCK answer never acts on a later command. */
  generation = 0;
  idleTimer: ClockTimer | undefined;
  connecting: Promise<void> | undefined;

  constructor(redis: Redis) {
    this.redis = redis;
  }
}

function notSent(reason: string): Error {
  return outcomeOf(new NotSentError(reason)).error;
}

/**
 * Runs blocking commands (BLPOP, XREAD … BLOCK, WAIT, …) one per connection, so they never stall the shared main
 * pool. When every connection is busy the command is refused at once (SLUICE_ERR_BLOCKING_POOL_FULL), never queued:
 * a queue of blocking commands would only add their block times together.
 */
export class BlockingPool {
  readonly #options: BlockingPoolOptions;
  readonly #clock: Clock;
  readonly #telemetry: Telemetry;
  readonly #slots = new Set<Slot>();
  /** Idle connections, most recently used last: reusing it lets the others age out. */
  readonly #idle: Slot[] = [];
  #opened = 0;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  readonly #budget: ConnectionBudget;

  constructor(options: BlockingPoolOptions, telemetry: Telemetry) {
    this.#options = options;
    this.#budget = options.budget ?? UNBOUNDED;
    this.#clock = options.clock ?? realClock;
    this.#telemetry = telemetry;
  }

  stats(): BlockingPoolStats {
    let busy = 0;
    for (const slot of this.#slots) if (slot.busy) busy++;
    return { size: this.#options.size, busy, open: this.#slots.size };
  }

  /** Runs one blocking command with its timeout capped; resolves to its reply or an Error, never rejects. */
  run(command: PreparedCommand, timing: RequestTiming): Promise<Outcome> {
    if (this.#closed)
      return Promise.resolve(new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down'));
    const remaining = timing.deadline - this.#clock.now();
    if (remaining < 1 || timing.signal?.aborted) {
      return Promise.resolve(
        new SluiceError(
          'SLUICE_ERR_DEADLINE_EXPIRED',
          'ERR the request deadline passed (or the caller went away) before the command was sent; nothing was sent',
        ),
      );
    }
    const capped = capBlockingTimeout(
      command.name,
      command.args,
      Math.min(this.#options.maxMs, Math.floor(remaining)),
    );
    if (capped instanceof SluiceError) {
      this.#telemetry.refused('bad_request');
      return Promise.resolve(capped);
    }
    const slot = this.#acquire();
    if (slot instanceof SluiceError) return Promise.resolve(slot);
    if (!slot) {
      this.#telemetry.refused('blocking_pool_full');
      const { size, sizeSetting = 'SLUICE_BLOCKING_POOL_SIZE', owner = '' } = this.#options;
      return Promise.resolve(
        new SluiceError(
          'SLUICE_ERR_BLOCKING_POOL_FULL',
          `ERR all ${size} blocking connections${owner} are busy (${sizeSetting}=${size}); nothing was sent`,
        ),
      );
    }
    return this.#execute(slot, command, capped, timing);
  }

  /** Ends every running block early (Redis answers as on a timeout: nil); used when draining. */
  unblockAll(): void {
    for (const slot of this.#slots) if (slot.busy) this.#unblock(slot, slot.generation);
  }

  /** Resolves when no command runs (at once when none does). */
  idle(): Promise<void> {
    if (this.stats().busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Closes every connection; running commands end with SLUICE_ERR_REDIS_CONNECTION_LOST. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#slots].map((slot) => this.#drop(slot, !slot.busy)));
  }

  /** An idle connection, a new one while under the bound, undefined when all are busy, or the budget's refusal. */
  #acquire(): Slot | SluiceError | undefined {
    const idle = this.#idle.pop();
    if (idle) {
      this.#clock.clearTimeout(idle.idleTimer);
      idle.busy = true;
      return idle;
    }
    if (this.#slots.size >= this.#options.size) return undefined;
    const refused = this.#budget.take(`a blocking connection${this.#options.owner ?? ''}`);
    if (refused) return refused;
    const redis = openConnection(
      {
        target: this.#options.target,
        name: `sluice-blocking-${this.#opened++}`,
        connectTimeoutMs: this.#options.connectTimeoutMs,
      },
      // A lost blocking connection is dropped, not reconnected: the next command opens a fresh one on demand.
      { retryStrategy: () => null },
    );
    const slot = new Slot(redis);
    redis.on('error', () => {}); // The command that was running reports it; ioredis would otherwise print it.
    redis.on('close', () => {
      if (!slot.busy) void this.#drop(slot, false);
      else slot.dead = true;
    });
    slot.connecting = redis.connect().then(() => {
      // Sent ahead of the first command on the same connection, so it costs no extra round trip.
      redis.call('CLIENT', 'ID').then(
        (id) => {
          slot.id = String(id);
        },
        () => {},
      );
    });
    this.#slots.add(slot);
    return slot;
  }

  async #execute(
    slot: Slot,
    command: PreparedCommand,
    capped: CappedCommand,
    timing: RequestTiming,
  ): Promise<Outcome> {
    try {
      await slot.connecting;
    } catch (error) {
      slot.dead = true;
      this.#release(slot);
      return notSent(`could not open a blocking connection (${(error as Error).message})`);
    }
    if (slot.dead || slot.redis.status !== 'ready') {
      slot.dead = true;
      this.#release(slot);
      return notSent('the blocking connection went down before the command was written');
    }
    if (timing.signal?.aborted) {
      this.#release(slot);
      return notSent('the caller went away before the command was written');
    }
    const generation = ++slot.generation;
    const written = this.#clock.now();
    const wire = new Command(command.wireName, capped.args);
    void slot.redis.sendCommand(wire);
    const replyMs = capped.blockMs + this.#options.commandTimeoutMs;
    return new Promise<Outcome>((answer) => {
      let answered = false;
      const onAbort = () => this.#unblock(slot, generation);
      timing.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = this.#clock.setTimeout(() => {
        answered = true;
        answer(
          new SluiceError(
            'SLUICE_ERR_REDIS_TIMEOUT',
            `ERR no reply from Redis within ${Math.round(replyMs)} ms (the capped block time plus SLUICE_COMMAND_TIMEOUT_MS); the command may have run`,
          ),
        );
        // The connection may still be blocked: it cannot be trusted with another command.
        this.#kill(slot);
      }, replyMs);
      const settle = (outcome: Outcome, kind: Parameters<Telemetry['commandDone']>[2]) => {
        this.#clock.clearTimeout(timer);
        timing.signal?.removeEventListener('abort', onAbort);
        this.#telemetry.commandDone(
          command.label,
          (this.#clock.now() - written) / 1000,
          answered ? 'timeout' : kind,
        );
        this.#release(slot);
        if (!answered) answer(outcome);
      };
      wire.promise.then(
        (reply: Reply) => settle(reply, 'ok'),
        (error: unknown) => {
          const { error: e, outcome } = outcomeOf(error);
          settle(e, outcome);
        },
      );
    });
  }

  /**
   * Frees a blocked connection whose caller went away: `CLIENT UNBLOCK` from another connection makes Redis
   * answer it as on a timeout (https://redis.io/docs/latest/commands/client-unblock/). When that cannot be sent,
   * or Redis says the connection was not blocked (the command had not arrived yet, or WAIT, which 7.0 cannot
   * unblock), the connection is closed instead: never leaked.
   */
  #unblock(slot: Slot, generation: number): void {
    const stillRunning = () => slot.busy && !slot.dead && slot.generation === generation;
    if (!stillRunning()) return;
    const control = this.#options.control();
    if (!control || slot.id === undefined) return this.#kill(slot);
    control.call('CLIENT', 'UNBLOCK', slot.id).then(
      (unblocked) => {
        if (String(unblocked) !== '1' && stillRunning()) this.#kill(slot);
      },
      () => {
        if (stillRunning()) this.#kill(slot);
      },
    );
  }

  /** Closes a connection at once; its running command, if any, settles with an error. */
  #kill(slot: Slot): void {
    slot.dead = true;
    if (this.#slots.delete(slot)) this.#budget.give();
    slot.redis.disconnect();
  }

  /** A command finished (or never started): the connection goes back to the idle list, or away. */
  #release(slot: Slot): void {
    slot.busy = false;
    if (this.#idleWaiters.length > 0 && this.stats().busy === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
    if (slot.dead || this.#closed || slot.redis.status !== 'ready') {
      void this.#drop(slot, false);
      return;
    }
    this.#idle.push(slot);
    slot.idleTimer = this.#clock.setTimeout(() => void this.#drop(slot, true), this.#options.idleMs);
    slot.idleTimer.unref();
  }

  /** Removes a connection from the pool and closes it (politely with QUIT when it is idle and up). */
  async #drop(slot: Slot, quit: boolean): Promise<void> {
    slot.dead = true;
    this.#clock.clearTimeout(slot.idleTimer);
    if (this.#slots.delete(slot)) this.#budget.give();
    const index = this.#idle.indexOf(slot);
    if (index !== -1) this.#idle.splice(index, 1);
    if (!quit || slot.redis.status !== 'ready') {
      slot.redis.disconnect();
      return;
    }
    try {
      await slot.redis.quit();
    } catch {
      slot.redis.disconnect();
    }
  }
}
