// Read-region families (issue 20): how replica-servable reads were served, their waits, the replica's lag, parked
// reads and the watcher's polls.
import type { Registry } from 'prom-client';
import type { ReplicaReadOutcome } from '../broker/telemetry.js';
import type { FastCounter, FastHistogram } from './fast-families.js';
import { eventCounter, gauge, histogram } from './family.js';
import type { SourceSet } from './sources.js';

/** Seconds, from a fraction of a millisecond to past the longest SLUICE_SYNC_WAIT_MS one would set. */
const WAIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The event-fed read-region families. */
export interface ReplicaFamilies {
  readonly reads: FastCounter;
  readonly wait: FastHistogram;
  readonly polls: FastCounter;
}

/** Registers the read-region families; the gauges read `sources.current.replica` at scrape time. */
export function registerReplicaMetrics(registry: Registry, sources: SourceSet): ReplicaFamilies {
  gauge(registry, 'sluice_replica_lag_bytes', function () {
    this.reset();
    const lag = sources.current.replica?.().lagBytes;
    if (lag !== undefined) this.set(lag);
  });
  gauge(registry, 'sluice_replica_lag_seconds', function () {
    this.reset();
    const lag = sources.current.replica?.().lagSeconds;
    if (lag !== undefined) this.set(lag);
  });
  gauge(registry, 'sluice_sync_parked_reads', function () {
    this.set(sources.current.replica?.().parked ?? 0);
  });
  return {
    reads: eventCounter(registry, 'sluice_replica_reads_total'),
    wait: histogram(registry, 'sluice_sync_wait_seconds', WAIT_BUCKETS),
    polls: eventCounter(registry, 'sluice_replica_watcher_polls_total'),
  };
}

/** Counts replica reads by outcome, one cached child per outcome. */
export class ReplicaReads {
  readonly #reads: FastCounter;
  readonly #children = new Map<ReplicaReadOutcome, { inc(): void }>();

  constructor(reads: FastCounter) {
    this.#reads = reads;
  }

  read(outcome: ReplicaReadOutcome): void {
    let child = this.#children.get(outcome);
    if (child === undefined) {
      child = this.#reads.labels(outcome);
      this.#children.set(outcome, child);
    }
    child.inc();
  }
}
