// What the broker knows of the primary's replication stream: its ID, the newest offset it reported, and when it
// reported which offsets (to tell how many seconds a replica is behind).
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { parseReplicationInfo, type ReplicationInfo, type SyncPosition } from './replication.js';

/** Offsets remembered with their time (a ring): the window is SAMPLES × the spacing. */
const SAMPLES = 128;

/** How often the primary's replication ID is read again while writes report offsets (a failover changes it). */
const REPLID_REFRESH_MS = 5000;

/** The primary's replication ID and offsets as ROLE (after write batches) and INFO replication report them. */
export class PrimaryPosition {
  /** `master_replid` of the primary, once INFO replication was read; undefined before (or when INFO is denied). */
  replid: string | undefined;
  /** The newest offset the primary reported (0 before any). */
  maxOffset = 0;
  /**
   * Whether write batches learn the primary's offset (a ROLE after each): true unless the Redis user may not run
   * ROLE or INFO (then tokens carry no position).
   */
  tracking = true;
  /** When the ID was last read (the clock's ms), to refresh it now and then. */
  replidReadAt = Number.NEGATIVE_INFINITY;
  readonly #clock: Clock;
  readonly #spacingMs: number;
  readonly #offsets = new Float64Array(SAMPLES);
  readonly #times = new Float64Array(SAMPLES);
  #count = 0;
  #next = 0;
  #refreshing = false;

  /** `spacingMs`: the least time between two remembered samples (the window is 128 of them). */
  constructor(clock: Clock, spacingMs: number) {
    this.#clock = clock;
    this.#spacingMs = spacingMs;
  }

  /** The position at `offset` in the current history, or undefined while the ID is unknown. */
  at(offset: number): SyncPosition | undefined {
    return this.replid === undefined ? undefined : { replid: this.replid, offset };
  }

  /** The primary reported `offset` now. */
  noted(offset: number): void {
    if (offset <= this.maxOffset) return;
    this.maxOffset = offset;
    const now = this.#clock.now();
    const last = this.#count === 0 ? -1 : (this.#next + SAMPLES - 1) % SAMPLES;
    if (last >= 0 && now - this.#times[last]! < this.#spacingMs) {
      this.#offsets[last] = offset;
      return;
    }
    this.#offsets[this.#next] = offset;
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % SAMPLES;
    if (this.#count < SAMPLES) this.#count++;
  }

  /**
   * A ROLE after a write batch reported `offset`; reads the replication ID again on `redis` when it was read more
   * than REPLID_REFRESH_MS ago.
   */
  reported(offset: number, redis: () => Redis | undefined): void {
    this.noted(offset);
    if (this.#clock.now() - this.replidReadAt > REPLID_REFRESH_MS) void this.refresh(redis());
  }

  /**
   * Reads INFO replication on the primary: its replication ID and offset. Resolves to what it read, undefined when it
   * could not (no connection, INFO denied, not a primary); never rejects. One read at a time.
   */
  async refresh(redis: Redis | undefined): Promise<ReplicationInfo | undefined> {
    if (redis === undefined || this.#refreshing) return undefined;
    this.#refreshing = true;
    try {
      const info = parseReplicationInfo(await redis.call('INFO', 'replication'));
      if (info?.role !== 'master') return undefined;
      this.readReplid(info.replid, info.offset);
      return info;
    } catch {
      return undefined;
    } finally {
      this.#refreshing = false;
    }
  }

  /** The primary now runs history `replid` (read from INFO replication), at `offset`. */
  readReplid(replid: string, offset: number): void {
    this.replidReadAt = this.#clock.now();
    if (replid !== this.replid) {
      // Another history (a restart without data, a promoted replica): its offsets do not compare with the old ones.
      this.replid = replid;
      this.maxOffset = 0;
      this.#count = 0;
      this.#next = 0;
    }
    this.noted(offset);
  }

  /**
   * At most how many seconds behind the primary a copy that applied `offset` is: since the last sample at which the
   * primary was still at or below it (it may have passed it any time after). Infinity when no sample says so (the
   * copy lags every offset remembered, or sampling just started): what routing uses, so that a replica measured after
   * a quiet spell is not taken for fresh. 0 when it holds every offset seen.
   */
  secondsBehindAtMost(offset: number): number {
    if (offset >= this.maxOffset) return 0;
    const now = this.#clock.now();
    const newest = (this.#next + SAMPLES - 1) % SAMPLES;
    for (let i = 0; i < this.#count; i++) {
      const at = (newest + SAMPLES - i) % SAMPLES;
      if (this.#offsets[at]! <= offset) return Math.max(0, now - this.#times[at]!) / 1000;
    }
    return Number.POSITIVE_INFINITY;
  }

  /**
   * At least how many seconds behind the primary a copy that applied `offset` is: since the primary first reported
   * an offset past it (past the window, the window). 0 when it holds every offset seen. What the lag gauge shows.
   */
  secondsBehind(offset: number): number {
    if (offset >= this.maxOffset || this.#count === 0) return 0;
    const now = this.#clock.now();
    const oldest = (this.#next + SAMPLES - this.#count) % SAMPLES;
    for (let i = 0; i < this.#count; i++) {
      const at = (oldest + i) % SAMPLES;
      if (this.#offsets[at]! > offset) return Math.max(0, now - this.#times[at]!) / 1000;
    }
    return 0;
  }
}
