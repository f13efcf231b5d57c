// Runs prepared requests on the pools: admission, deadline, one connection per request, replies matched in order.
import { performance } from 'node:perf_hooks';
import type { Admission } from './admission.js';
import { SluiceError } from './errors.js';
import type { PreparedCommand } from './protocol/prepare.js';
import type { Pool, PooledConnection } from './redis/pool.js';
import { ReplyCommand } from './redis/reply-command.js';
import { PendingReplies, Timeouts } from './settle.js';
import type { Telemetry } from './telemetry.js';
import { type BlockingRunner, type Outcome, outcomeOf, type RequestTiming } from './outcome.js';

/**
 * Keeps one caller's requests on one pooled connection so they run in the order they were sent (a WebSocket's
 * commands, DESIGN §4). The executor fills `connection` on first use and re-picks when it is down.
 */
export interface Affinity {
  connection: PooledConnection | undefined;
}

export interface ExecutorOptions {
  readonly commandTimeoutMs: number;
}

/**
 * What transports run requests on: the standalone Executor, or the cluster executor (broker.ts chooses one). Each
 * calls `answer` exactly once, never throws: failures are Error outcomes. Callbacks rather than promises: an answer
 * then costs no promise and no microtask hop.
 */
export interface RequestRunner {
  pipeline(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void;
  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (result: Outcome[] | Error) => void,
  ): void;
}

/** Executes requests. Every public method answers exactly once, never throws: failures are Error outcomes. */
export class Executor implements RequestRunner {
  readonly #pool: Pool;
  readonly #admission: Admission;
  readonly #telemetry: Telemetry;
  readonly #options: ExecutorOptions;
  readonly #timeouts = new Timeouts();
  #blocking: BlockingRunner | undefined;

  constructor(pool: Pool, admission: Admission, telemetry: Telemetry, options: ExecutorOptions) {
    this.#pool = pool;
    this.#admission = admission;
    this.#telemetry = telemetry;
    this.#options = options;
  }

  /** Attaches the blocking pool; until then blocking commands are refused. */
  setBlockingRunner(runner: BlockingRunner): void {
    this.#blocking = runner;
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
    for (const item of items) {
      if (item instanceof SluiceError) continue;
      if (item.route === 'blocking') return void this.#withBlocking(items, timing).then(answer);
      sendable++;
    }
    if (sendable === 0) return answer(items as SluiceError[]);
    const commands =
      sendable === items.length
        ? (items as PreparedCommand[])
        : items.filter((i): i is PreparedCommand => !(i instanceof SluiceError));
    this.#run(commands, timing, false, affinity, (outcomes) => {
      mapReplies(commands, outcomes, 0);
      if (commands.length === items.length) return answer(outcomes);
      let next = 0;
      answer(items.map((item) => (item instanceof SluiceError ? item : outcomes[next++]!)));
    });
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
    this.#run(items, timing, true, affinity, (outcomes) => answer(execResult(items, outcomes)));
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
    if (!this.#blocking) {
      const error = new SluiceError(
        'SLUICE_ERR_COMMAND_REFUSED',
        `ERR ${only.name.toUpperCase()} blocks a connection and is not served on the shared pool`,
      );
      this.#telemetry.refused('command_refused');
      return Promise.resolve([error]);
    }
    return this.#blocking.run(only, timing).then((outcome) => [outcome]);
  }

  /** Admits the request, writes its commands and calls `answer` once with one outcome per command written. */
  #run(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    transaction: boolean,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    const count = items.length + (transaction ? 2 : 0);
    const fail = (error: unknown) => {
      const { error: e } = outcomeOf(error);
      const reason = e instanceof SluiceError ? REFUSAL_REASONS[e.code] : undefined;
      if (reason) this.#telemetry.refused(reason);
      answer(new Array<Outcome>(count).fill(e));
    };
    const admission = this.#admission;
    admission.enter(
      () => {
        let refused: SluiceError | undefined;
        try {
          refused = this.#write(items, timing, transaction, affinity, answer, () => admission.leave());
        } catch (error) {
          admission.leave();
          return fail(error);
        }
        if (refused) {
          admission.leave();
          fail(refused);
        }
      },
      fail,
      (seconds) => this.#telemetry.queueWaited(seconds),
    );
  }

  /**
   * Writes the commands to a connection and arranges for `answer` (and then `allSettled`) to be called as in
   * PendingReplies; returns the refusal instead when nothing was written.
   */
  #write(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    transaction: boolean,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
    allSettled: () => void,
  ): SluiceError | undefined {
    const written = performance.now();
    if (written >= timing.deadline) {
      return new SluiceError(
        'SLUICE_ERR_DEADLINE_EXPIRED',
        'ERR the request deadline passed before its commands were sent; nothing was sent',
      );
    }
    // Admission is FIFO and this write is synchronous, so requests pinned to one connection reach Redis in order.
    let connection = affinity?.connection;
    if (!connection?.ready) {
      // A caller pinned for its lifetime gets the least busy connection; others share the first one not busy.
      connection = affinity ? this.#pool.leastBusy() : this.#pool.pick();
      if (affinity) affinity.connection = connection;
    }
    if (!connection) {
      return new SluiceError(
        'SLUICE_ERR_REDIS_UNAVAILABLE',
        'ERR Redis is unavailable (no pool connection is up); nothing was sent',
      );
    }
    const count = items.length + (transaction ? 2 : 0);
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
      },
      answer,
      allSettled,
    );
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
    pending.armTimeout();
    return undefined;
  }
}

/** A transaction's answer from its outcomes (MULTI, each command's QUEUED, EXEC): EXEC's items, or one Error. */
function execResult(items: readonly PreparedCommand[], outcomes: Outcome[]): Outcome[] | Error {
  const exec = outcomes[outcomes.length - 1]!;
  for (const outcome of outcomes) {
    if (outcome instanceof SluiceError) return outcome;
  }
  for (let i = 1; i < outcomes.length - 1; i++) {
    if (outcomes[i] instanceof Error) return outcomes[i] as Error;
  }
  if (exec instanceof Error) return exec;
  if (!Array.isArray(exec)) return new SluiceError('SLUICE_ERR_INTERNAL', 'ERR EXEC did not return an array');
  return mapReplies(items, exec, 0);
}

/** Applies each command's reply rewrite (see PreparedCommand.mapReply) to its successful outcome, in place. */
export function mapReplies(
  items: readonly PreparedCommand[],
  outcomes: Outcome[],
  offset: number,
): Outcome[] {
  items.forEach((item, i) => {
    const outcome = outcomes[offset + i];
    if (item.mapReply && outcome !== undefined && !(outcome instanceof Error))
      outcomes[offset + i] = item.mapReply(outcome);
  });
  return outcomes;
}

const REFUSAL_REASONS: Partial<Record<SluiceError['code'], Parameters<Telemetry['refused']>[0]>> = {
  SLUICE_ERR_QUEUE_FULL: 'queue_full',
  SLUICE_ERR_QUEUE_TIMEOUT: 'queue_timeout',
  SLUICE_ERR_DEADLINE_EXPIRED: 'deadline_expired',
  SLUICE_ERR_REDIS_UNAVAILABLE: 'redis_unavailable',
};
