// What transports and the composition root run requests on, and the request shapes both runners read the same way:
// refused items left out and merged back, reply rewrites, EXEC's answer.
import { SluiceError } from '../errors.js';
import type { PreparedCommand } from '../redis/command.js';
import type { BlockingPoolStats } from '../redis/blocking-pool.js';
import type { Outcome, RequestTiming } from '../redis/outcome.js';
import type { PooledConnection, PoolStats } from '../redis/pool.js';

/**
 * Keeps one caller's requests on one pooled connection so they run in the order they were sent (a WebSocket's
 * commands, docs/websocket.md). The executor fills `connection` on first use and re-picks when it is down.
 */
export interface Affinity {
  connection: PooledConnection | undefined;
  /**
   * While the caller moves to another connection (its first script runs as its ACL user, see script-users.ts), its
   * later requests wait here, in order, holding their admission slots, so none overtakes the move.
   */
  held?: (() => void)[] | undefined;
}

/** A point-in-time view of a runner's connections, for metrics. */
export interface RunnerStats {
  /** The shared connections: the bound, how many are ready, and commands awaiting replies on them. */
  readonly main: PoolStats;
  /** Blocking connections over every blocking pool the runner owns. */
  readonly blocking: BlockingPoolStats;
}

/** Connections per Redis node, by pool and state, for the per-node metric (bounded by the number of nodes). */
export interface NodeStats {
  readonly node: string;
  readonly pool: string;
  readonly state: string;
  readonly count: number;
}

/**
 * What transports run requests on: the standalone Executor, or the cluster executor (lifecycle/broker.ts chooses
 * one). `pipeline` and `transaction` call `answer` exactly once and never throw: failures are Error outcomes.
 * Callbacks rather than promises: an answer then costs no promise and no microtask hop.
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
  stats(): RunnerStats;
  /** Per-node rows (cluster); empty when there is one Redis. */
  nodeStats(): NodeStats[];
  /** Ends every running block early (nil replies), for draining. */
  unblockAll(): void;
  /** Resolves when no blocking command runs. */
  idle(): Promise<void>;
  /** Closes the connections the runner opened for itself (blocking pools). */
  close(): Promise<void>;
}

/** The items of a pipeline that are sent: all of them, unless some were refused while preparing. */
export function sendableOf(items: readonly (PreparedCommand | SluiceError)[]): readonly PreparedCommand[] {
  for (const item of items)
    if (item instanceof SluiceError)
      return items.filter((i): i is PreparedCommand => !(i instanceof SluiceError));
  return items as readonly PreparedCommand[];
}

/**
 * A pipeline's answer: the outcomes of the commands sent (`sent`, in order, their reply rewrites applied) put back
 * between the items refused while preparing, which keep their error.
 */
export function mergeOutcomes(
  items: readonly (PreparedCommand | SluiceError)[],
  sent: readonly PreparedCommand[],
  outcomes: Outcome[],
): Outcome[] {
  mapReplies(sent, outcomes);
  if (sent.length === items.length) return outcomes;
  let next = 0;
  return items.map((item) => (item instanceof SluiceError ? item : outcomes[next++]!));
}

/**
 * A transaction's answer from its outcomes (MULTI, each command's QUEUED, EXEC): EXEC's items, or one Error — the
 * broker's own refusal, the first command that failed to queue (as `queueError` presents it), or EXEC's error.
 */
export function execResult(
  items: readonly PreparedCommand[],
  outcomes: Outcome[],
  queueError: (error: Error) => Error = (error) => error,
): Outcome[] | Error {
  for (const outcome of outcomes) if (outcome instanceof SluiceError) return outcome;
  for (let i = 1; i < outcomes.length - 1; i++) {
    const outcome = outcomes[i];
    if (outcome instanceof Error) return queueError(outcome);
  }
  const exec = outcomes[outcomes.length - 1]!;
  if (exec instanceof Error) return exec;
  if (!Array.isArray(exec)) return new SluiceError('SLUICE_ERR_INTERNAL', 'ERR EXEC did not return an array');
  return mapReplies(items, exec);
}

/** Applies each command's reply rewrite (see PreparedCommand.mapReply) to its successful outcome, in place. */
function mapReplies(items: readonly PreparedCommand[], outcomes: Outcome[]): Outcome[] {
  items.forEach((item, i) => {
    const outcome = outcomes[i];
    if (item.mapReply && outcome !== undefined && !(outcome instanceof Error))
      outcomes[i] = item.mapReply(outcome);
  });
  return outcomes;
}
