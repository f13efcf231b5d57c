// Sluice's metrics: its own prom-client registry, every family of the catalogue, and the Telemetry that feeds them.
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { GuardedKind, Telemetry } from '../broker/telemetry.js';
import { registerAdmissionMetrics } from './admission-metrics.js';
import { DEFAULT_METRICS_PREFIX } from './catalogue.js';
import { CommandMetrics } from './commands.js';
import {
  QuotaMetrics,
  RefusalMetrics,
  registerBatchMetrics,
  registerGuardMetrics,
  registerReconnectMetrics,
  registerTokensReloadMetrics,
} from './events.js';
import { HttpMetrics } from './http.js';
import type { Scrape } from './cluster.js';
import { registerPoolMetrics } from './pools.js';
import { registerReplicaMetrics } from './replica.js';
import { type MetricsSources, SourceSet } from './sources.js';
import { registerTlsMetrics } from './tls.js';
import { registerTransportMetrics } from './transports.js';
import { MetricsTelemetry } from './metrics-telemetry.js';

export { clusterScrape, type Scrape, shareWithPrimary } from './cluster.js';
export { METRICS, type MetricSpec, metricsTable } from './catalogue.js';
export type {
  AdmissionSample,
  MetricsSources,
  PoolSample,
  PubSubSample,
  ReplicaSample,
  SseSample,
  TlsSample,
  WsSample,
} from './sources.js';

export interface MetricsOptions {
  /** Admission slots (SLUICE_MAX_INFLIGHT), reported as `sluice_requests_running_max`. */
  readonly maxRunning: number;
  /** Sources known at creation; more can be plugged in later. */
  readonly sources?: MetricsSources;
  /** Whether to add prom-client's default process metrics (event-loop lag included). Default true. */
  readonly processMetrics?: boolean;
}

/** A process's metrics. */
export interface Metrics {
  /** Sluice's own registry (never prom-client's global one). */
  readonly registry: Registry;
  /** The hooks to hand to the broker's modules. */
  readonly telemetry: Telemetry;
  /** Counts an error that reached the process-level guard (broker/lifecycle/process-guard.ts). */
  guarded(kind: GuardedKind): void;
  /** Adds or replaces sources read at scrape time (a module that starts later plugs itself in). */
  plug(sources: MetricsSources): void;
  /** The registry in the Prometheus text format. */
  scrape(): Promise<Scrape>;
}

/** Creates a registry with every Sluice family and prom-client's default metrics under the `sluice_` prefix. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const sources = new SourceSet();
  if (options.sources) sources.plug(options.sources);
  registerPoolMetrics(registry, sources);
  const { queueWait } = registerAdmissionMetrics(registry, sources, options.maxRunning);
  registerTransportMetrics(registry, sources);
  registerTlsMetrics(registry, sources);
  const telemetry = new MetricsTelemetry({
    batch: registerBatchMetrics(registry),
    queueWait,
    commands: new CommandMetrics(registry),
    http: new HttpMetrics(registry),
    refusals: new RefusalMetrics(registry),
    quotas: new QuotaMetrics(registry),
    reconnect: registerReconnectMetrics(registry),
    tokensReload: registerTokensReloadMetrics(registry),
    replica: registerReplicaMetrics(registry, sources),
  });
  const guarded = registerGuardMetrics(registry);
  if (options.processMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX });
  return {
    registry,
    telemetry,
    guarded,
    plug: (more) => sources.plug(more),
    scrape: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
