// Event-fed families without a per-event label lookup: batch sizes, refusals and reconnects.
import type { Counter, Histogram, Registry } from 'prom-client';
import type { RefusalReason } from '../broker/telemetry.js';
import { counter, histogram } from './family.js';

/** Powers of two up to 1024 commands per write. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** `sluice_batch_commands`: one observation per pipelined write. */
export function registerBatchMetrics(registry: Registry): Histogram {
  return histogram(registry, 'sluice_batch_commands', BATCH_BUCKETS);
}

/** `sluice_refusals_total` by reason, children cached per reason. */
export class RefusalMetrics {
  readonly #refusals: Counter;
  readonly #children = new Map<RefusalReason, { inc(): void }>();

  constructor(registry: Registry) {
    this.#refusals = counter(registry, 'sluice_refusals_total');
  }

  refused(reason: RefusalReason): void {
    let child = this.#children.get(reason);
    if (child === undefined) {
      child = this.#refusals.labels(reason);
      this.#children.set(reason, child);
    }
    child.inc();
  }
}

/** `sluice_redis_reconnects_total` by pool. Rare events: no cache needed. */
export function registerReconnectMetrics(registry: Registry): (pool: string) => void {
  const reconnects = counter(registry, 'sluice_redis_reconnects_total');
  return (pool) => reconnects.labels(pool).inc();
}
