// Runs prepared requests on the pools: admission, deadline, one connection per request, replies matched in order.
import { Command } from 'ioredis';
import type { Admission } from './admission.js';
import { SluiceError } from './errors.js';
import type { PreparedCommand } from './protocol/prepare.js';
import type { Pool, PooledConnection } from './redis/pool.js';
import { settleCommands } from './settle.js';
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

interface Attempt {
  readonly commands: Command[];
  readonly labels: string[];
  readonly connection: PooledConnection;
  readonly written: number;
}

/**
 * What transports run requests on: the standalone Executor, or the cluster executor (broker.ts chooses one). Both
 * resolve, never reject: failures are Error outcomes.
 */
export interface RequestRunner {
  pipeline(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    affinity?: Affinity,
  ): Promise<Outcome[]>;
  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    affinity?: Affinity,
  ): Promise<Outcome[] | Error>;
}

/** Executes requests. Every public method resolves (never rejects): failures are Error outcomes. */
export class Executor implements RequestRunner {
  readonly #pool: Pool;
  readonly #admission: Admission;
  readonly #telemetry: Telemetry;
  readonly #options: ExecutorOptions;
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
    affinity?: Affinity,
  ): Promise<Outcome[]> {
    const blockingIndex = items.findIndex(
      (item) => !(item instanceof SluiceError) && item.route === 'blocking',
    );
    if (blockingIndex !== -1) return this.#withBlocking(items, timing);
    const sendable: PreparedCommand[] = [];
    for (const item of items) if (!(item instanceof SluiceError)) sendable.push(item);
    if (sendable.length === 0) return Promise.resolve(items as SluiceError[]);
    return this.#run(sendable, timing, false, affinity).then((outcomes) => {
      mapReplies(sendable, outcomes, 0);
      if (sendable.length === items.length) return outcomes;
      let next = 0;
      return items.map((item) => (item instanceof SluiceError ? item : outcomes[next++]!));
    });
  }

  /**
   * Runs MULTI … EXEC as one contiguous block on a shared connection. Resolves to EXEC's items, or to a single
   * Error when the transaction was discarded (a command failed to queue) or could not run.
   */
  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    affinity?: Affinity,
  ): Promise<Outcome[] | Error> {
    return this.#run(items, timing, true, affinity).then((outcomes) => {
      // outcomes: MULTI, each command's QUEUED, EXEC.
      const exec = outcomes[outcomes.length - 1]!;
      for (const outcome of outcomes) {
        if (outcome instanceof SluiceError) return outcome;
      }
      for (let i = 1; i < outcomes.length - 1; i++) {
        if (outcomes[i] instanceof Error) return outcomes[i] as Error;
      }
      if (exec instanceof Error) return exec;
      if (!Array.isArray(exec))
        return new SluiceError('SLUICE_ERR_INTERNAL', 'ERR EXEC did not return an array');
      return mapReplies(items, exec, 0);
    });
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

  #run(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    transaction: boolean,
    affinity: Affinity | undefined,
  ): Promise<Outcome[]> {
    const count = items.length + (transaction ? 2 : 0);
    return new Promise<Outcome[]>((answer) => {
      const fail = (error: unknown) => {
        const { error: e } = outcomeOf(error);
        const reason = e instanceof SluiceError ? REFUSAL_REASONS[e.code] : undefined;
        if (reason) this.#telemetry.refused(reason);
        answer(new Array<Outcome>(count).fill(e));
      };
      const admission = this.#admission;
      admission.enter(
        () => {
          let attempt: Attempt | SluiceError;
          try {
            attempt = this.#write(items, timing, transaction, affinity);
          } catch (error) {
            admission.leave();
            return fail(error);
          }
          if (attempt instanceof SluiceError) {
            admission.leave();
            return fail(attempt);
          }
          this.#settle(attempt, timing, answer, () => admission.leave());
        },
        fail,
        (seconds) => this.#telemetry.queueWaited(seconds),
      );
    });
  }

  #write(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    transaction: boolean,
    affinity: Affinity | undefined,
  ): Attempt | SluiceError {
    const now = performance.now();
    if (now >= timing.deadline) {
      return new SluiceError(
        'SLUICE_ERR_DEADLINE_EXPIRED',
        'ERR the request deadline passed before its commands were sent; nothing was sent',
      );
    }
    // Admission is FIFO and this write is synchronous, so requests pinned to one connection reach Redis in order.
    let connection = affinity?.connection;
    if (!connection?.ready) {
      connection = this.#pool.pick();
      if (affinity) affinity.connection = connection;
    }
    if (!connection) {
      return new SluiceError(
        'SLUICE_ERR_REDIS_UNAVAILABLE',
        'ERR Redis is unavailable (no pool connection is up); nothing was sent',
      );
    }
    const commands: Command[] = [];
    const labels: string[] = [];
    if (transaction) {
      commands.push(new Command('MULTI', []));
      labels.push('multi');
    }
    for (const item of items) {
      commands.push(new Command(item.wireName, item.args));
      labels.push(item.label);
    }
    if (transaction) {
      commands.push(new Command('EXEC', []));
      labels.push('exec');
    }
    connection.wrote(commands.length);
    connection.batcher.write(commands);
    return { commands, labels, connection, written: now };
  }

  /** Answers when every command settled, or earlier on timeout; `allSettled` follows once every command settled. */
  #settle(
    attempt: Attempt,
    timing: RequestTiming,
    answer: (outcomes: Outcome[]) => void,
    allSettled: () => void,
  ): void {
    const { commands, labels, connection, written } = attempt;
    const timeoutMs = Math.max(0, Math.min(this.#options.commandTimeoutMs, timing.deadline - written));
    settleCommands(
      {
        commands,
        labels,
        written,
        timeoutMs,
        telemetry: this.#telemetry,
        classify: outcomeOf,
        onSettled: () => connection.settled(),
      },
      answer,
      allSettled,
    );
  }
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
