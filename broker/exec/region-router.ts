// Read regions: runs reads on the local replica and everything else on the primary, with read-your-writes by sync
// position (issue 20, docs/read-regions.md). A request never spans both; a socket keeps its order across them.
import type { Clock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { PreparedCommand } from '../redis/command.js';
import type { Outcome, RequestTiming } from '../redis/outcome.js';
import type { Pool } from '../redis/pool.js';
import { laterPosition, type RequestSync, type SyncPosition } from '../redis/replication.js';
import type { ReplicaReadOutcome, Telemetry } from '../telemetry.js';
import type { Executor } from './executor.js';
import type { ReplicaWatcher } from './replica-watcher.js';
import type { Affinity, NodeStats, RequestRunner, RunnerStats } from './request-runner.js';

export interface RegionRouterParts {
  /** Runs on the primary (SLUICE_REDIS_URL): writes, transactions, scripts, blocking commands, fallbacks. */
  readonly primary: Executor;
  /** Runs on the replica's pool (SLUICE_REPLICA_URL). */
  readonly replica: Executor;
  readonly replicaPool: Pool;
  readonly watcher: ReplicaWatcher;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  /** SLUICE_SYNC_WAIT_MS. */
  readonly syncWaitMs: number;
  /** Reads parked at most; past it a read that would wait goes to the primary (SLUICE_QUEUE_MAX). */
  readonly maxParked: number;
  /**
   * The replica's replication state cannot be read (INFO denied): reads with a position go to the primary, reads
   * without one to the replica unmeasured.
   */
  readonly blind: () => boolean;
  /** Whether writes learn the primary's position (false when the primary's user may not run ROLE or INFO). */
  readonly tracking: () => boolean;
}

/** Whether a request may be served by the replica: every command it sends is flagged readonly, on the main pool. */
export function isReplicaRead(items: readonly (PreparedCommand | SluiceError)[]): boolean {
  let sendable = 0;
  for (const item of items) {
    if (item instanceof SluiceError) continue;
    if (!item.readOnly || item.route !== 'main' || item.runAs !== undefined) return false;
    sendable++;
  }
  return sendable > 0;
}

type Side = 'read' | 'write';

/**
 * One socket's requests across the two servers (see Affinity). A request that changes side waits until every earlier
 * request of the socket was answered, so a read sent after a write runs after it (with its position as floor) and a
 * write sent after a read cannot overtake it.
 */
interface Lane {
  side: Side | undefined;
  /** Requests started and not answered. */
  pending: number;
  /** Requests waiting for the other side's to be answered, in order. */
  readonly queue: { readonly side: Side; readonly run: () => void }[];
  draining: boolean;
  /** Where the primary was after the socket's last write; 'unknown' when a write's position could not be learnt. */
  lastWrite: SyncPosition | 'unknown' | undefined;
  /** The socket's place on the replica's pool (its place on the primary's is the socket's own Affinity). */
  readonly replica: Affinity;
}

/** Routes requests between the primary's executor and the replica's (a RequestRunner, as transports see it). */
export class RegionRouter implements RequestRunner {
  readonly #parts: RegionRouterParts;
  readonly #lanes = new WeakMap<Affinity, Lane>();

  constructor(parts: RegionRouterParts) {
    this.#parts = parts;
  }

  pipeline(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    const read = isReplicaRead(items);
    if (affinity === undefined) {
      if (read) return this.#read(items, timing, undefined, undefined, answer);
      return this.#parts.primary.pipeline(items, timing, undefined, answer);
    }
    const lane = this.#lane(affinity);
    if (read) {
      return this.#enter(lane, 'read', (finish) =>
        this.#read(items, timing, affinity, lane, (outcomes) => {
          finish();
          answer(outcomes);
        }),
      );
    }
    this.#enter(lane, 'write', (finish) => {
      const sync = timing.sync ?? newSync();
      this.#parts.primary.pipeline(items, { ...timing, sync }, affinity, (outcomes) => {
        if (mayWrite(items)) wrote(lane, sync, outcomes);
        finish();
        answer(outcomes);
      });
    });
  }

  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (result: Outcome[] | Error) => void,
  ): void {
    if (affinity === undefined) return this.#parts.primary.transaction(items, timing, undefined, answer);
    const lane = this.#lane(affinity);
    this.#enter(lane, 'write', (finish) => {
      const sync = timing.sync ?? newSync();
      this.#parts.primary.transaction(items, { ...timing, sync }, affinity, (result) => {
        if (mayWrite(items)) wrote(lane, sync, result);
        finish();
        answer(result);
      });
    });
  }

  /**
   * Serves a read: the replica when it holds the read's floor (at once, or after waiting up to SLUICE_SYNC_WAIT_MS),
   * or, for a read without one, when it is within SLUICE_REPLICA_MAX_LAG_MS; the primary otherwise.
   */
  #read(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    lane: Lane | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    const { primary, replica, replicaPool, watcher, telemetry, clock } = this.#parts;
    const sync = timing.sync;
    if (sync?.badToken) telemetry.replicaRead('bad_token');
    const onReplica = (outcome: ReplicaReadOutcome) => {
      telemetry.replicaRead(outcome);
      replica.pipeline(items, timing, lane?.replica, answer);
    };
    const onPrimary = (outcome: ReplicaReadOutcome) => {
      telemetry.replicaRead(outcome);
      primary.pipeline(items, timing, affinity, answer);
    };
    const laneFloor = lane?.lastWrite;
    if (laneFloor === 'unknown') return onPrimary('primary_fallback');
    // Tokens carry no position: one that came may stand for a write the replica lacks.
    if (sync?.carried && !this.#parts.tracking()) return onPrimary('primary_fallback');
    const floor = laterPosition(sync?.floor, laneFloor);
    const replicaUp = replicaPool.stats().ready > 0;
    if (floor === undefined)
      return replicaUp && (this.#parts.blind() || watcher.freshEnough())
        ? onReplica('immediate')
        : onPrimary('primary_fallback');
    if (!replicaUp || this.#parts.blind()) return onPrimary('primary_fallback');
    const held = watcher.check(floor);
    if (held === 'yes') return onReplica('immediate');
    if (held === 'never') return onPrimary('unsatisfiable');
    const waitMs = Math.min(this.#parts.syncWaitMs, timing.deadline - clock.now());
    if (waitMs <= 0 || watcher.parked >= this.#parts.maxParked) return onPrimary('primary_fallback');
    const parkedAt = clock.now();
    watcher.park(floor, waitMs, (end) => {
      telemetry.syncWaited((clock.now() - parkedAt) / 1000);
      if (end === 'caught_up') onReplica('waited');
      else onPrimary(end === 'never' ? 'unsatisfiable' : 'primary_fallback');
    });
  }

  #lane(affinity: Affinity): Lane {
    let lane = this.#lanes.get(affinity);
    if (lane === undefined) {
      lane = {
        side: undefined,
        pending: 0,
        queue: [],
        draining: false,
        lastWrite: undefined,
        replica: { connection: undefined, unsettled: 0 },
      };
      this.#lanes.set(affinity, lane);
    }
    return lane;
  }

  /** Starts `run` now if the lane is on its side or idle, else after the other side's requests were answered. */
  #enter(lane: Lane, side: Side, run: (finish: () => void) => void): void {
    const finish = () => {
      lane.pending--;
      this.#drain(lane);
    };
    lane.queue.push({ side, run: () => run(finish) });
    this.#drain(lane);
  }

  #drain(lane: Lane): void {
    if (lane.draining) return;
    lane.draining = true;
    const queue = lane.queue;
    while (queue.length > 0) {
      const next = queue[0]!;
      if (lane.pending > 0 && next.side !== lane.side) break;
      queue.shift();
      lane.side = next.side;
      lane.pending++;
      next.run();
    }
    lane.draining = false;
  }

  stats(): RunnerStats {
    return this.#parts.primary.stats();
  }

  nodeStats(): NodeStats[] {
    return [];
  }

  unblockAll(): void {
    this.#parts.primary.unblockAll();
  }

  idle(): Promise<void> {
    return this.#parts.primary.idle();
  }

  /** Releases the parked reads to the primary; the pools are closed by whoever built them. */
  close(): Promise<void> {
    this.#parts.watcher.close();
    return Promise.resolve();
  }
}

/** Whether a request sends a command that may change data (see PreparedCommand.mayWrite). */
function mayWrite(items: readonly (PreparedCommand | SluiceError)[]): boolean {
  for (const item of items) if (!(item instanceof SluiceError) && item.mayWrite) return true;
  return false;
}

function newSync(): RequestSync {
  return { floor: undefined, badToken: false, carried: false, result: undefined };
}

/**
 * Notes where a socket's write left the primary: the floor of its later reads. A write that ran (some command did not
 * fail) without a known position sends the socket's reads to the primary until a later write's position is known
 * (that one covers it: it ran after it).
 */
function wrote(lane: Lane, sync: RequestSync, outcomes: Outcome[] | Error): void {
  if (sync.result !== undefined) {
    const known = lane.lastWrite === 'unknown' ? undefined : lane.lastWrite;
    lane.lastWrite = laterPosition(known, sync.result);
  } else if (Array.isArray(outcomes) && outcomes.some((outcome) => !(outcome instanceof Error)))
    lane.lastWrite = 'unknown';
}
