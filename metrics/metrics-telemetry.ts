// The Telemetry the broker calls on its hot path, feeding the event-driven families of one registry.
import type { FastHistogram } from './fast-families.js';
import type {
  CommandOutcome,
  QuotaKind,
  RefusalReason,
  ReplicaReadOutcome,
  Telemetry,
  TokensReloadOutcome,
} from '../broker/telemetry.js';
import type { CommandMetrics } from './commands.js';
import type { QuotaMetrics, RefusalMetrics } from './events.js';
import type { HttpMetrics } from './http.js';
import { type ReplicaFamilies, ReplicaReads } from './replica.js';

/** The families telemetry feeds. */
export interface TelemetryFamilies {
  readonly batch: FastHistogram;
  readonly queueWait: FastHistogram;
  readonly commands: CommandMetrics;
  readonly http: HttpMetrics;
  readonly refusals: RefusalMetrics;
  readonly quotas: QuotaMetrics;
  readonly reconnect: (pool: string) => void;
  readonly tokensReload: (outcome: TokensReloadOutcome) => void;
  readonly replica: ReplicaFamilies;
}

/** Telemetry into prom-client metrics. Each hook is one cached child update; none throws on valid input. */
export class MetricsTelemetry implements Telemetry {
  readonly #batch: { observe(value: number): void };
  readonly #queueWait: { observe(value: number): void };
  readonly #families: TelemetryFamilies;
  readonly #replicaReads: ReplicaReads;
  readonly #syncWait: { observe(value: number): void };
  readonly #polls: { inc(): void };

  constructor(families: TelemetryFamilies) {
    this.#families = families;
    this.#batch = families.batch.labels();
    this.#queueWait = families.queueWait.labels();
    this.#replicaReads = new ReplicaReads(families.replica.reads);
    this.#syncWait = families.replica.wait.labels();
    this.#polls = families.replica.polls.labels();
  }

  batchWritten(commands: number): void {
    this.#batch.observe(commands);
  }

  commandDone(command: string, seconds: number, outcome: CommandOutcome): void {
    this.#families.commands.done(command, seconds, outcome);
  }

  queueWaited(seconds: number): void {
    this.#queueWait.observe(seconds);
  }

  refused(reason: RefusalReason): void {
    this.#families.refusals.refused(reason);
  }

  httpResponse(route: string, status: number): void {
    this.#families.http.response(route, status);
  }

  redisReconnect(pool: string): void {
    this.#families.reconnect(pool);
  }

  quotaRefused(kind: QuotaKind, tenant: string): void {
    this.#families.refusals.refused('quota');
    this.#families.quotas.refused(kind, tenant);
  }

  tokensReloaded(outcome: TokensReloadOutcome): void {
    this.#families.tokensReload(outcome);
  }

  replicaRead(outcome: ReplicaReadOutcome): void {
    this.#replicaReads.read(outcome);
  }

  syncWaited(seconds: number): void {
    this.#syncWait.observe(seconds);
  }

  watcherPolled(): void {
    this.#polls.inc();
  }
}
