// What transports and the composition root run requests on: the interface both executors implement.
import type { SluiceError } from '../errors.js';
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
   * Requests of the caller written and not yet settled on Redis (answered or not). At 0 nothing of the caller can
   * still run, so its next request may go to any connection without overtaking one: the pool then picks it afresh
   * for its expected reply size (issue 17: a socket whose replies turned large leaves the connection kept for small
   * ones; one that turned small goes back).
   */
  unsettled: number;
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
  /** Closes the connections the runner opened for itself (the cluster executor's per-primary blocking pools). */
  close(): Promise<void>;
}
