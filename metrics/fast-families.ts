// Hot-path counters and histograms: plain numbers updated per event, turned into prom-client's format only at scrape.
// prom-client's own `labels(...).observe()` re-validates and re-hashes the labels on every call, which cost about a
// fifth of the broker's throughput on the request path (bench scenario 8); these keep one child object per label
// set and do one or two additions per event.
import type { Registry } from 'prom-client';
import { type MetricName, metricSpec } from './catalogue.js';

interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/** What prom-client's Registry reads from a metric (`get`, `reset`, and the identifying fields). */
abstract class FastFamily<Child> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: string[];
  readonly aggregator: 'sum' | 'max' | 'min' | 'average' | 'first' | 'omit';
  abstract readonly type: 'counter' | 'histogram';
  protected readonly children = new Map<string, { labels: Record<string, string>; child: Child }>();

  constructor(registry: Registry, name: MetricName) {
    const spec = metricSpec(name);
    this.name = spec.name;
    this.help = spec.help;
    this.labelNames = [...spec.labels];
    this.aggregator = spec.aggregator ?? 'sum';
    // The registry only needs get()/reset()/name; its declared type is prom-client's own Metric class.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The child for these label values (in `labelNames` order); look it up once and keep it. */
  labels(...values: (string | number)[]): Child {
    const key = values.join('\u0000');
    let entry = this.children.get(key);
    if (!entry) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((label, i) => {
        labels[label] = String(values[i]);
      });
      entry = { labels, child: this.newChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  protected abstract newChild(): Child;
  protected abstract samples(): Sample[];

  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.samples(),
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    this.children.clear();
  }
}

/** A counter child: `inc()` adds one (or `by`). */
export interface FastCounterChild {
  inc(by?: number): void;
}

class CounterChild implements FastCounterChild {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

/** A monotonically increasing count per label set. */
export class FastCounter extends FastFamily<CounterChild> {
  readonly type = 'counter';

  protected newChild(): CounterChild {
    return new CounterChild();
  }

  protected samples(): Sample[] {
    return [...this.children.values()].map(({ labels, child }) => ({
      metricName: this.name,
      labels,
      value: child.value,
    }));
  }
}

/** A histogram child: `observe(value)` counts it in its bucket. */
export interface FastHistogramChild {
  observe(value: number): void;
}

class HistogramChild implements FastHistogramChild {
  readonly #bounds: readonly number[];
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** Observations in fixed buckets per label set, exported cumulatively as Prometheus expects. */
export class FastHistogram extends FastFamily<HistogramChild> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(registry: Registry, name: MetricName, bounds: readonly number[]) {
    super(registry, name);
    this.#bounds = [...bounds].sort((a, b) => a - b);
  }

  protected newChild(): HistogramChild {
    return new HistogramChild(this.#bounds);
  }

  protected samples(): Sample[] {
    const out: Sample[] = [];
    for (const { labels, child } of this.children.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += child.counts[i]!;
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: bound }, value: cumulative });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: child.count });
      out.push({ metricName: `${this.name}_sum`, labels, value: child.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: child.count });
    }
    return out;
  }
}
