// Builds prom-client metrics from the catalogue, registered only in Sluice's own registry.
import { Counter, Gauge, type Registry } from 'prom-client';
import { type MetricName, metricSpec } from './catalogue.js';
import { FastCounter, FastHistogram } from './fast-families.js';

function base(registry: Registry, name: MetricName) {
  const spec = metricSpec(name);
  return {
    name: spec.name,
    help: spec.help,
    labelNames: [...spec.labels],
    registers: [registry],
    aggregator: spec.aggregator ?? 'sum',
  };
}

/** A counter whose `collect` copies, at scrape time, a total kept elsewhere. */
export function counter(registry: Registry, name: MetricName, collect: (this: Counter) => void): Counter {
  return new Counter({ ...base(registry, name), collect });
}

/** A counter fed as events happen (hot path): see FastCounter. */
export function eventCounter(registry: Registry, name: MetricName): FastCounter {
  return new FastCounter(registry, name);
}

/** A gauge whose `collect` reads state at scrape time. */
export function gauge(registry: Registry, name: MetricName, collect: (this: Gauge) => void): Gauge {
  return new Gauge({ ...base(registry, name), collect });
}

/** A histogram with the given bucket upper bounds, fed as events happen: see FastHistogram. */
export function histogram(registry: Registry, name: MetricName, buckets: readonly number[]): FastHistogram {
  return new FastHistogram(registry, name, buckets);
}

/**
 * Mirrors a cumulative total kept by another module into a counter: adds what grew since the last scrape.
 * Returns the total to remember. A total that went down (the source restarted) is taken as the new base.
 */
export function advance(inc: (by: number) => void, total: number, last: number): number {
  if (total > last) inc(total - last);
  return total;
}
