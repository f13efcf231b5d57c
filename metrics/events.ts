// Event-fed families without a per-event label lookup: batch sizes, refusals and reconnects.
import type { Registry } from 'prom-client';
import type { GuardedKind, QuotaKind, RefusalReason, TokensReloadOutcome } from '../broker/telemetry.js';
import type { FastCounter, FastHistogram } from './fast-families.js';
import { eventCounter, histogram } from './family.js';

/** Powers of two up to 1024 commands per write. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** `sluice_batch_commands`: one observation per pipelined write. */
export function registerBatchMetrics(registry: Registry): FastHistogram {
  return histogram(registry, 'sluice_batch_commands', BATCH_BUCKETS);
}

/** `sluice_refusals_total` by reason, children cached per reason. */
export class RefusalMetrics {
  readonly #refusals: FastCounter;
  readonly #children = new Map<RefusalReason, { inc(): void }>();

  constructor(registry: Registry) {
    this.#refusals = eventCounter(registry, 'sluice_refusals_total');
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
  const reconnects = eventCounter(registry, 'sluice_redis_reconnects_total');
  return (pool) => reconnects.labels(pool).inc();
}

/** `sluice_process_guard_total` by kind. Rare events (each is a bug): no cache needed. */
export function registerGuardMetrics(registry: Registry): (kind: GuardedKind) => void {
  const guarded = eventCounter(registry, 'sluice_process_guard_total');
  return (kind) => guarded.labels(kind).inc();
}

/** `sluice_quota_refusals_total` by kind and tenant (names from the tokens file: bounded), children cached. */
export class QuotaMetrics {
  readonly #refusals: FastCounter;
  readonly #children = new Map<string, { inc(): void }>();

  constructor(registry: Registry) {
    this.#refusals = eventCounter(registry, 'sluice_quota_refusals_total');
  }

  refused(kind: QuotaKind, tenant: string): void {
    const key = `${kind}\n${tenant}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.#refusals.labels(kind, tenant);
      this.#children.set(key, child);
    }
    child.inc();
  }
}

/** `sluice_tokens_reloads_total` by outcome. Rare events: no cache needed. */
export function registerTokensReloadMetrics(registry: Registry): (outcome: TokensReloadOutcome) => void {
  const reloads = eventCounter(registry, 'sluice_tokens_reloads_total');
  return (outcome) => reloads.labels(outcome).inc();
}
