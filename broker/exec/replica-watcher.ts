// One watcher per read replica: polls its applied offset only while reads wait for it or its lag is to be measured,
// and releases waiting reads when it has caught up, or when they have waited long enough (issue 20).
import type { Redis } from 'ioredis';
import type { Clock, ClockTimer } from '../clock.js';
import type { PrimaryPosition } from '../redis/primary-position.js';
import {
  holds,
  parseReplicationInfo,
  type ReplicationInfo,
  type SyncPosition,
} from '../redis/replication.js';

/** How a parked read ended: the replica caught up, the wait ran out, or the replica cannot come to hold it. */
export type ParkedEnd = 'caught_up' | 'timeout' | 'never';

/** Time between polls while reads are parked (ms): a local replica answers INFO in well under a millisecond. */
const PARKED_POLL_MS = 2;
/** A poll unanswered this long is given up (the replica may be stopped); the next one may start (ms). */
const POLL_GIVE_UP_MS = 1000;

export interface ReplicaWatcherParts {
  /** A ready connection to the replica (its pool), or undefined. */
  readonly replica: () => Redis | undefined;
  /** A ready connection to the primary, for its offset when the replica's lag is measured. */
  readonly primary: () => Redis | undefined;
  readonly positions: PrimaryPosition;
  readonly clock: Clock;
  /** SLUICE_REPLICA_MAX_LAG_MS. */
  readonly maxLagMs: number;
  /** Counts each poll of the replica. */
  readonly polled: () => void;
}

interface Parked {
  readonly floor: SyncPosition;
  readonly deadline: number;
  readonly done: (end: ParkedEnd) => void;
  ended: boolean;
}

/** A point-in-time view for metrics. */
export interface WatcherStats {
  readonly parked: number;
  /** Bytes of the primary's stream the replica had not applied at the last poll (undefined before one). */
  readonly lagBytes: number | undefined;
  /** Estimated seconds the replica is behind (undefined before a poll). */
  readonly lagSeconds: number | undefined;
}

/** Watches one replica: its replication state, and the reads parked until it reaches their floor. */
export class ReplicaWatcher {
  readonly #parts: ReplicaWatcherParts;
  /** The replica's state at the last poll that answered, and when (the clock's ms). */
  #info: ReplicationInfo | undefined;
  #measuredAt = Number.NEGATIVE_INFINITY;
  #parked: Parked[] = [];
  #timer: ClockTimer | undefined;
  /** When #timer fires (the clock's ms). */
  #timerAt = Number.POSITIVE_INFINITY;
  #pollTimer: ClockTimer | undefined;
  /** Increments with each poll started; a poll answering after it was given up is ignored. */
  #generation = 0;
  #polling = false;
  #closed = false;
  /** Whether the next poll also reads the primary's offset (the lag is being measured). */
  #withPrimary = false;
  #blind = false;

  constructor(parts: ReplicaWatcherParts) {
    this.#parts = parts;
  }

  /** Whether the replica refused INFO (NOPERM): its state cannot be known. */
  get blind(): boolean {
    return this.#blind;
  }

  get parked(): number {
    return this.#parked.length;
  }

  stats(): WatcherStats {
    const info = this.#info;
    if (info === undefined)
      return { parked: this.#parked.length, lagBytes: undefined, lagSeconds: undefined };
    const { positions } = this.#parts;
    const sameHistory = info.replid === positions.replid;
    return {
      parked: this.#parked.length,
      lagBytes: sameHistory ? Math.max(0, positions.maxOffset - info.offset) : undefined,
      lagSeconds: sameHistory ? positions.secondsBehind(info.offset) : undefined,
    };
  }

  /**
   * Whether a read without a token may go to the replica: its link to the primary is up and it is estimated within
   * SLUICE_REPLICA_MAX_LAG_MS, by a measurement younger than that. Starts a new measurement when the last one is a
   * quarter of that old (so idle brokers poll nothing).
   */
  freshEnough(): boolean {
    const { clock, maxLagMs, positions } = this.#parts;
    const age = clock.now() - this.#measuredAt;
    if (age >= Math.max(10, maxLagMs / 4)) this.#measure();
    const info = this.#info;
    if (info === undefined || !info.linkUp || age > maxLagMs) return false;
    if (info.replid !== positions.replid) return positions.replid === undefined;
    return positions.secondsBehindAtMost(info.offset) * 1000 <= maxLagMs;
  }

  /** Whether the replica held `floor` at the last poll: 'yes', 'not_yet', or 'never' (another history). */
  check(floor: SyncPosition): 'yes' | 'not_yet' | 'never' | 'unknown' {
    const info = this.#info;
    if (info === undefined) return 'unknown';
    return holds(info, floor);
  }

  /** Parks a read until the replica holds `floor` (or cannot), for at most `waitMs`. `done` is called once. */
  park(floor: SyncPosition, waitMs: number, done: (end: ParkedEnd) => void): void {
    const parked: Parked = { floor, deadline: this.#parts.clock.now() + waitMs, done, ended: false };
    this.#parked.push(parked);
    // One timer, for the earliest deadline (waits are SLUICE_SYNC_WAIT_MS, or less when a request's deadline is near).
    if (this.#timer === undefined || parked.deadline < this.#timerAt) this.#armTimer();
    if (!this.#polling && this.#pollTimer === undefined) void this.#poll();
  }

  /**
   * Forgets the replica's state: its connections dropped, and a replica that restarted may hold less than it did
   * (no persistence, a full resync), so nothing is served from it on the old state until a poll reads it again.
   */
  forget(): void {
    this.#info = undefined;
    this.#measuredAt = Number.NEGATIVE_INFINITY;
  }

  /** Ends every parked read (as timed out: the primary serves them) and stops polling. */
  close(): void {
    this.#closed = true;
    const { clock } = this.#parts;
    clock.clearTimeout(this.#timer);
    clock.clearTimeout(this.#pollTimer);
    this.#timer = undefined;
    this.#pollTimer = undefined;
    const parked = this.#parked;
    this.#parked = [];
    for (const p of parked) this.#end(p, 'timeout');
  }

  #measure(): void {
    this.#withPrimary = true;
    if (!this.#polling && this.#pollTimer === undefined) void this.#poll();
  }

  #armTimer(): void {
    const { clock } = this.#parts;
    clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    let earliest = Number.POSITIVE_INFINITY;
    for (const p of this.#parked) if (!p.ended && p.deadline < earliest) earliest = p.deadline;
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.#timerAt = earliest;
    this.#timer = clock.setTimeout(this.#expire, Math.max(0, earliest - clock.now()));
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = this.#parts.clock.now();
    const waiting: Parked[] = [];
    for (const parked of this.#parked) {
      if (parked.ended) continue;
      if (parked.deadline <= now) this.#end(parked, 'timeout');
      else waiting.push(parked);
    }
    this.#parked = waiting;
    this.#armTimer();
  };

  #end(parked: Parked, end: ParkedEnd): void {
    if (parked.ended) return;
    parked.ended = true;
    parked.done(end);
  }

  /** One poll of the replica (and of the primary when measuring lag or a floor is past its known offset). */
  async #poll(): Promise<void> {
    if (this.#closed) return;
    this.#pollTimer = undefined;
    this.#polling = true;
    const generation = ++this.#generation;
    const { replica, primary, positions, clock } = this.#parts;
    const withPrimary = this.#withPrimary || this.#parked.some((p) => p.floor.offset > positions.maxOffset);
    this.#withPrimary = false;
    const connection = replica();
    let giveUp: ClockTimer | undefined;
    const givenUp = new Promise<undefined>((resolve) => {
      giveUp = clock.setTimeout(() => resolve(undefined), POLL_GIVE_UP_MS);
    });
    const [replicaInfo, primaryInfo] = await Promise.all([
      connection === undefined
        ? undefined
        : Promise.race([
            connection.call('INFO', 'replication').then(parseReplicationInfo, this.failed),
            givenUp,
          ]),
      withPrimary ? Promise.race([positions.refresh(primary()), givenUp]) : undefined,
    ]);
    clock.clearTimeout(giveUp);
    if (generation !== this.#generation || this.#closed) return;
    this.#parts.polled();
    if (replicaInfo !== undefined) {
      this.#info = replicaInfo;
      this.#measuredAt = clock.now();
    } else this.#info = undefined;
    this.#release(withPrimary && primaryInfo !== undefined);
    this.#polling = false;
    if (this.#parked.length > 0 || this.#withPrimary)
      this.#pollTimer = clock.setTimeout(() => void this.#poll(), PARKED_POLL_MS);
  }

  /**
   * An INFO replication of the replica failed (a poll, or the broker's start-up probe). Refused (NOPERM): the
   * replica's state cannot be known, so the parked reads go to the primary at once and no read parks again.
   */
  readonly failed = (error: unknown): undefined => {
    if (!(error instanceof Error && error.message.startsWith('NOPERM'))) return undefined;
    this.#blind = true;
    const parked = this.#parked;
    this.#parked = [];
    for (const p of parked) this.#end(p, 'timeout');
    return undefined;
  };

  /** Ends the parked reads the replica now holds, or never will; `primaryFresh`: the primary's offset was just read. */
  #release(primaryFresh: boolean): void {
    const info = this.#info;
    if (info === undefined || this.#parked.length === 0) return;
    const { positions } = this.#parts;
    const waiting: Parked[] = [];
    for (const parked of this.#parked) {
      if (parked.ended) continue;
      const held = holds(info, parked.floor);
      // A floor past what the primary itself reports cannot be reached (a forged or foreign offset): stop waiting.
      const beyond =
        primaryFresh && parked.floor.replid === positions.replid && parked.floor.offset > positions.maxOffset;
      if (held === 'yes') this.#end(parked, 'caught_up');
      else if (held === 'never' || beyond) this.#end(parked, 'never');
      else waiting.push(parked);
    }
    this.#parked = waiting;
    if (waiting.length === 0) {
      this.#parts.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
