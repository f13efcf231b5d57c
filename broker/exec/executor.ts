// Runs prepared requests on the pools: admission, deadline, one connection per request, replies matched in order.
import { Command } from 'ioredis';
import type { Admission } from './admission.js';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { BlockingPool } from '../redis/blocking-pool.js';
import type { PreparedCommand, RunAs } from '../redis/command.js';
import { Pool, type PooledConnection } from '../redis/pool.js';
import { ReplyCommand } from '../redis/reply-command.js';
import { PendingReplies, Timeouts } from '../redis/settle.js';
import type { ScriptUsers } from './script-users.js';
import { NotSentError } from '../redis/batcher.js';
import type { Telemetry } from '../telemetry.js';
import { type Outcome, outcomeOf, type RequestTiming } from '../redis/outcome.js';
import type { Affinity, NodeStats, RequestRunner, RunnerStats } from './request-runner.js';
import { execResult, mergeOutcomes, sendableOf } from './request-outcomes.js';
import type { PrimaryPosition } from '../redis/primary-position.js';
import type { RequestSync } from '../redis/replication.js';

/** What an Executor runs on. */
export interface ExecutorParts {
  /** The shared main pool. */
  readonly pool: Pool;
  /** Runs blocking commands, one per connection (the standalone blocking pool). */
  readonly blocking: BlockingPool;
  /** The ACL users that run scripts of restricted callers. */
  readonly scriptUsers: ScriptUsers;
  readonly admission: Admission;
  readonly telemetry: Telemetry;
}

export interface ExecutorOptions {
  readonly commandTimeoutMs: number;
  /** SLUICE_MAX_REPLY_BYTES: reply bytes of one request before further replies are dropped. */
  readonly maxReplyBytes: number;
  /** Times commands and arms their timeouts; the real clock by default. */
  readonly clock?: Clock | undefined;
  /**
   * Set on the primary's executor when sync tokens carry positions (issue 20): a request with a RequestSync and a
   * command not flagged readonly learns the primary's offset after its batch (a ROLE written last in the batch) and
   * is answered once it is known, with `sync.result` set.
   */
  readonly positions?: PrimaryPosition | undefined;
}

/**
 * Commands of one request unanswered on its connection at most: a longer /pipeline is written in slices of half
 * this as its replies come back, so that other clients' commands wait behind a thousand of its commands, not a
 * hundred thousand (issue 17), and the broker holds the ioredis commands of one window, not of the whole request.
 * A transaction is written whole: MULTI … EXEC must stay one block.
 */
const WRITE_WINDOW = 1024;

/** Executes requests. Every public method answers exactly once, never throws: failures are Error outcomes. */
export class Executor implements RequestRunner {
  readonly #pool: Pool;
  readonly #admission: Admission;
  readonly #telemetry: Telemetry;
  readonly #options: ExecutorOptions;
  readonly #clock: Clock;
  readonly #timeouts: Timeouts;
  readonly #blocking: BlockingPool;
  readonly #scriptUsers: ScriptUsers;
  /** Restarts a sliced request's timeout as a slice is written: commands time out from when they are written. */
  readonly #rearm = (pending: PendingReplies, deadline: number): void => {
    const now = performance.now();
    const ms = Math.max(0, Math.min(this.#options.commandTimeoutMs, deadline - now));
    pending.rearmTimeout(this.#timeouts.groupFor(ms, now));
  };

  constructor(parts: ExecutorParts, options: ExecutorOptions) {
    this.#pool = parts.pool;
    this.#blocking = parts.blocking;
    this.#scriptUsers = parts.scriptUsers;
    this.#admission = parts.admission;
    this.#telemetry = parts.telemetry;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#timeouts = new Timeouts(this.#clock);
  }

  stats(): RunnerStats {
    return { main: this.#pool.stats(), blocking: this.#blocking.stats() };
  }

  nodeStats(): NodeStats[] {
    return [];
  }

  unblockAll(): void {
    this.#blocking.unblockAll();
  }

  idle(): Promise<void> {
    return this.#blocking.idle();
  }

  /** Nothing to close: the pools it runs on were given to it, and their builder closes them. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Runs a pipeline: the commands in order on one connection, each with its own outcome. Items that are already
   * errors (refused while preparing) are not sent and keep their error.
   */
  pipeline(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    let sendable = 0;
    let runAs: RunAs | undefined;
    for (const item of items) {
      if (item instanceof SluiceError) continue;
      if (item.route === 'blocking') return void this.#withBlocking(items, timing).then(answer);
      if (item.runAs) runAs = item.runAs;
      sendable++;
    }
    if (sendable === 0) return answer(items as SluiceError[]);
    const commands = sendableOf(items);
    this.#run(commands, timing, false, affinity, runAs, (outcomes) =>
      answer(mergeOutcomes(items, commands, outcomes)),
    );
  }

  /**
   * Runs MULTI … EXEC as one contiguous block on a shared connection. Answers with EXEC's items, or with a single
   * Error when the transaction was discarded (a command failed to queue) or could not run.
   */
  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (result: Outcome[] | Error) => void,
  ): void {
    const runAs = items.find((item) => item.runAs)?.runAs;
    this.#run(items, timing, true, affinity, runAs, (outcomes) => answer(execResult(items, outcomes)));
  }

  /** Blocking commands run one per request: alone, or the request is refused. */
  #withBlocking(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
  ): Promise<Outcome[]> {
    const only = items[0];
    if (items.length !== 1 || only instanceof SluiceError || only === undefined) {
      const error = new SluiceError(
        'SLUICE_ERR_COMMAND_REFUSED',
        'ERR a blocking command must be sent alone, not inside a pipeline (it runs on the blocking pool)',
      );
      return Promise.resolve(items.map((item) => (item instanceof SluiceError ? item : error)));
    }
    return this.#blocking.run(only, timing).then((outcome) => [outcome]);
  }

  /**
   * Admits the request, writes its commands and calls `answer` once with one outcome per command written. A request
   * with a script of a restricted caller (`runAs`) runs whole on that caller's ACL-user connection, so a pipeline or
   * transaction stays on one connection, in order.
   */
  #run(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    transaction: boolean,
    affinity: Affinity | undefined,
    runAs: RunAs | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    const count = items.length + (transaction ? 2 : 0);
    const fail = (error: unknown) => {
      const { error: e } = outcomeOf(error);
      const reason = e instanceof SluiceError ? REFUSAL_REASONS[e.code] : undefined;
      if (reason) this.#telemetry.refused(reason);
      answer(new Array<Outcome>(count).fill(e));
    };
    // The slot's leave, given by admission when the request starts.
    let leave: () => void = noop;
    const write = (pool: Pool) => {
      let refused: SluiceError | undefined;
      try {
        refused = this.#write(pool, items, timing, transaction, affinity, answer, leave);
      } catch (error) {
        leave();
        return fail(error);
      }
      if (refused) {
        leave();
        fail(refused);
      }
    };
    const start = () => {
      if (affinity?.held) return void affinity.held.push(start);
      if (runAs === undefined) return write(this.#pool);
      const acquired = this.#scriptUsers.acquire(runAs);
      if (acquired instanceof SluiceError) {
        leave();
        return fail(acquired);
      }
      if (acquired instanceof Pool)
        return this.#moveThenWrite(acquired, affinity, timing, write, fail, leave);
      if (affinity) affinity.held = [];
      void acquired.then((pool) => {
        if (pool instanceof SluiceError) {
          leave();
          fail(pool);
          release(affinity);
          return;
        }
        this.#moveThenWrite(pool, affinity, timing, write, fail, leave);
      });
    };
    this.#admission.enter(
      timing,
      (admitted) => {
        leave = admitted;
        start();
      },
      fail,
      (seconds) => this.#telemetry.queueWaited(seconds),
    );
  }

  /**
   * Writes on `pool`, then releases the requests the caller held (see Affinity.held). A caller pinned to a connection of another pool moves to `pool` first: a PING on the old
   * connection is answered only after Redis ran everything written there before it, so the caller's earlier commands
   * have run when its first command on the new connection is written. Later requests wait in `affinity.held`.
   */
  #moveThenWrite(
    pool: Pool,
    affinity: Affinity | undefined,
    timing: RequestTiming,
    write: (pool: Pool) => void,
    fail: (error: unknown) => void,
    leave: () => void,
  ): void {
    const from = affinity?.connection;
    // Nothing of the caller unsettled: nothing to fence, its next request may go anywhere (see Affinity.unsettled).
    if (affinity === undefined || affinity.unsettled === 0 || !from?.ready || pool.owns(from)) {
      write(pool);
      return release(affinity);
    }
    affinity.connection = undefined;
    affinity.held ??= [];
    const fence = new Command('PING', []);
    from.batcher.write([fence]);
    const waitMs = Math.max(0, Math.min(this.#options.commandTimeoutMs, timing.deadline - this.#clock.now()));
    let timer: ClockTimer | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('expired'), waitMs);
    });
    // A fence rejected because its connection went down is as good as answered: nothing written there can still run.
    void Promise.race([fence.promise.catch(() => 'down'), expired]).then((result) => {
      this.#clock.clearTimeout(timer);
      if (result === 'expired') {
        leave();
        fail(
          new SluiceError(
            'SLUICE_ERR_REDIS_TIMEOUT',
            "ERR this caller's earlier commands got no reply in time (SLUICE_COMMAND_TIMEOUT_MS); the script was not sent",
          ),
        );
      } else write(pool);
      release(affinity);
    });
  }

  /**
   * Writes the commands to a connection and arranges for `answer` (and then `allSettled`) to be called as in
   * PendingReplies; returns the refusal instead when nothing was written.
   */
  #write(
    pool: Pool,
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    transaction: boolean,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
    allSettled: () => void,
  ): SluiceError | undefined {
    const written = this.#clock.now();
    if (written >= timing.deadline) {
      return new SluiceError(
        'SLUICE_ERR_DEADLINE_EXPIRED',
        'ERR the request deadline passed before its commands were sent; nothing was sent',
      );
    }
    // Admission is FIFO and this write is synchronous, so requests pinned to one connection reach Redis in order.
    // A pinned caller with nothing unsettled may move: none of its commands can be overtaken.
    let connection = affinity === undefined || affinity.unsettled === 0 ? undefined : affinity.connection;
    if (!connection?.ready) {
      connection = pool.pick(timing.largeReplies === true);
      if (affinity) affinity.connection = connection;
    }
    if (!connection) {
      return new SluiceError(
        'SLUICE_ERR_REDIS_UNAVAILABLE',
        'ERR Redis is unavailable (no pool connection is up); nothing was sent',
      );
    }
    const count = items.length + (transaction ? 2 : 0);
    const positions = this.#options.positions;
    const sync = timing.sync;
    /** Set when the request waits for the primary's offset after its writes: registers the wait on its last write. */
    let awaitOffset: ((connection: PooledConnection) => void) | undefined;
    // Scripts of restricted callers run on their ACL user's pool, whose user may not run ROLE.
    if (positions?.tracking === true && sync !== undefined && pool === this.#pool && hasWrite(items)) {
      const tracked = trackOffset(positions, sync, answer);
      answer = tracked.answer;
      awaitOffset = tracked.register;
    }
    if (affinity) {
      affinity.unsettled++;
      const settled = allSettled;
      allSettled = () => {
        affinity.unsettled--;
        settled();
      };
    }
    const labels: string[] = [];
    const timeoutMs = Math.max(0, Math.min(this.#options.commandTimeoutMs, timing.deadline - written));
    const pending = new PendingReplies(
      {
        count,
        labels,
        written,
        timeoutMs,
        timeouts: this.#timeouts.groupFor(timeoutMs, written),
        telemetry: this.#telemetry,
        classify: outcomeOf,
        onSettled: connection.settled,
        maxReplyBytes: this.#options.maxReplyBytes,
      },
      answer,
      allSettled,
    );
    if (!transaction && count > WRITE_WINDOW) {
      for (const item of items) labels.push(item.label);
      new WindowedWrite(items, connection, pending, timing.deadline, this.#rearm, awaitOffset).start();
      pending.armTimeout();
      return undefined;
    }
    const commands: ReplyCommand[] = [];
    if (transaction) {
      commands.push(new ReplyCommand('MULTI', [], pending, 0));
      labels.push('multi');
    }
    for (const item of items) {
      commands.push(new ReplyCommand(item.wireName, item.args, pending, commands.length));
      labels.push(item.label);
    }
    if (transaction) {
      commands.push(new ReplyCommand('EXEC', [], pending, commands.length));
      labels.push('exec');
    }
    connection.wrote(count);
    connection.batcher.write(commands);
    awaitOffset?.(connection);
    pending.armTimeout();
    return undefined;
  }
}

/** Whether a request has a command that may change data (see PreparedCommand.mayWrite). */
function hasWrite(items: readonly PreparedCommand[]): boolean {
  for (const item of items) if (item.mayWrite) return true;
  return false;
}

/**
 * Joins a request's answer with the primary's offset after its batch: `answer` is called once both are in, with
 * `sync.result` set when the offset is known. An answer that came without every reply (a timeout), or before the
 * wait was registered (commands of a sliced request that were never written), goes out at once without it.
 */
function trackOffset(
  positions: PrimaryPosition,
  sync: RequestSync,
  answer: (outcomes: Outcome[]) => void,
): { answer: (outcomes: Outcome[]) => void; register: (connection: PooledConnection) => void } {
  let outcomes: Outcome[] | undefined;
  let registered = false;
  let known = false;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    answer(outcomes!);
  };
  return {
    answer: (given) => {
      outcomes = given;
      if (known || !registered || hasTimeout(given)) finish();
    },
    register: (connection) => {
      registered = true;
      connection.offsetAfterBatch((offset) => {
        known = true;
        if (offset !== undefined) sync.result = positions.at(offset);
        if (outcomes !== undefined) finish();
      });
    },
  };
}

function hasTimeout(outcomes: readonly Outcome[]): boolean {
  for (const outcome of outcomes)
    if (outcome instanceof SluiceError && outcome.code === 'SLUICE_ERR_REDIS_TIMEOUT') return true;
  return false;
}

function noop(): void {}

/** Lets the requests a caller held while it moved connections go on, in order (see Affinity.held). */
function release(affinity: Affinity | undefined): void {
  const held = affinity?.held;
  if (!affinity || !held) return;
  affinity.held = undefined;
  // A request may hold the caller again (another move): those after it then wait on the new list, still in order.
  for (const start of held) start();
}

/**
 * A long pipeline written WRITE_WINDOW commands at a time, on one connection and in order. A slice that cannot be
 * written (the connection went down, the deadline passed, the caller was answered) is never written elsewhere: its
 * commands and the rest fail as not sent.
 */
class WindowedWrite {
  readonly #items: readonly PreparedCommand[];
  readonly #connection: PooledConnection;
  readonly #pending: PendingReplies;
  readonly #deadline: number;
  readonly #rearm: (pending: PendingReplies, deadline: number) => void;
  #written = 0;
  #settled = 0;
  #stopped = false;
  /** True while the unsent commands are failed: they were never counted in flight on the connection. */
  #failingUnsent = false;
  /** Waits for the primary's offset after the last slice (see trackOffset). */
  readonly #awaitOffset: ((connection: PooledConnection) => void) | undefined;

  constructor(
    items: readonly PreparedCommand[],
    connection: PooledConnection,
    pending: PendingReplies,
    deadline: number,
    rearm: (pending: PendingReplies, deadline: number) => void,
    awaitOffset?: (connection: PooledConnection) => void,
  ) {
    this.#rearm = rearm;
    this.#awaitOffset = awaitOffset;
    this.#items = items;
    this.#connection = connection;
    this.#pending = pending;
    this.#deadline = deadline;
    pending.settledBy(this.#onSettled);
  }

  start(): void {
    this.#writeSlice(WRITE_WINDOW);
  }

  readonly #onSettled = (now: number): number | undefined => {
    if (this.#failingUnsent) return undefined;
    const bytes = this.#connection.settled(now);
    this.#settled++;
    if (this.#stopped || this.#written === this.#items.length) return bytes;
    if (this.#pending.answered)
      this.#stop(
        new NotSentError('the request was answered (it timed out) before these commands were written'),
      );
    else if (this.#written - this.#settled <= WRITE_WINDOW / 2) this.#writeSlice(WRITE_WINDOW / 2);
    return bytes;
  };

  #writeSlice(size: number): void {
    const connection = this.#connection;
    if (!connection.ready)
      return this.#stop(
        new NotSentError('the Redis connection went down before these commands were written'),
      );
    if (performance.now() >= this.#deadline) {
      return this.#stop(
        new SluiceError(
          'SLUICE_ERR_DEADLINE_EXPIRED',
          'ERR the request deadline passed before this command was sent; it was not sent',
        ),
      );
    }
    const items = this.#items;
    const end = Math.min(items.length, this.#written + size);
    const commands: ReplyCommand[] = [];
    for (let i = this.#written; i < end; i++)
      commands.push(new ReplyCommand(items[i]!.wireName, items[i]!.args, this.#pending, i));
    this.#written = end;
    connection.wrote(commands.length);
    connection.batcher.write(commands);
    if (end === items.length) this.#awaitOffset?.(connection);
    this.#rearm(this.#pending, this.#deadline);
  }

  #stop(error: Error): void {
    this.#stopped = true;
    this.#failingUnsent = true;
    // One error for all of them: a SluiceError per unsent command (up to 100,000, each with its stack) once cost
    // seconds of CPU and garbage when a long /pipeline timed out.
    const { error: shared, outcome } = outcomeOf(error);
    for (let i = this.#written; i < this.#items.length; i++) this.#pending.settle(i, shared, outcome);
    this.#failingUnsent = false;
  }
}

const REFUSAL_REASONS: Partial<Record<SluiceError['code'], Parameters<Telemetry['refused']>[0]>> = {
  SLUICE_ERR_QUEUE_FULL: 'queue_full',
  SLUICE_ERR_QUEUE_TIMEOUT: 'queue_timeout',
  SLUICE_ERR_DEADLINE_EXPIRED: 'deadline_expired',
  SLUICE_ERR_REDIS_UNAVAILABLE: 'redis_unavailable',
  SLUICE_ERR_AUTH_SCRIPT_REFUSED: 'noperm',
};
