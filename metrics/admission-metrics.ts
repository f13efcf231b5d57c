// Admission families: requests running and waiting, the oldest wait (the saturation signal), queue wait times.
import type { Registry } from 'prom-client';
import type { FastHistogram } from './fast-families.js';
import { gauge, histogram } from './family.js';
import type { SourceSet } from './sources.js';

/** Queue waits: 1 ms … 10 s (SLUICE_QUEUE_TIMEOUT_MS defaults to 2 s). */
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/** Registers the admission gauges and returns the queue-wait histogram fed by telemetry. */
export function registerAdmissionMetrics(
  registry: Registry,
  sources: SourceSet,
  maxRunning: number,
): { readonly queueWait: FastHistogram } {
  gauge(registry, 'sluice_requests_running', function () {
    this.set(sources.current.admission?.running ?? 0);
  });
  gauge(registry, 'sluice_requests_running_max', function () {
    this.set(maxRunning);
  });
  gauge(registry, 'sluice_queue_length', function () {
    this.set(sources.current.admission?.waiting ?? 0);
  });
  gauge(registry, 'sluice_queue_oldest_wait_seconds', function () {
    this.set(sources.current.admission?.oldestWaitSeconds() ?? 0);
  });
  return { queueWait: histogram(registry, 'sluice_queue_wait_seconds', WAIT_BUCKETS) };
}
