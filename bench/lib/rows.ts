// Runs a scenario's contenders in interleaved repeats and reduces each to one row of medians.
import type { Broker } from './broker.js';
import type { BenchConfig } from './config.js';
import { batchTotals, mainPoolMax } from './prometheus.js';
import type { PrivateRedis } from './redis.js';
import { ClientsSampler } from './redis.js';
import { maxOf, median } from './stats.js';

/** What every scenario receives. */
export interface BenchContext {
  readonly config: BenchConfig;
  readonly redis: PrivateRedis;
  /** The broker's full-access token. */
  readonly token: string;
  /** The key every GET reads, holding `value`. */
  readonly key: string;
  readonly value: string;
  log(message: string): void;
}

/** One measured run of a contender. Latencies in milliseconds. */
export interface Measurement {
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly firstError?: string | undefined;
  /** Broker CPU (user + system, all its processes) per operation of the measured run, in µs, when measured. */
  readonly cpuMicrosPerOp?: number;
}

/** Processes a contender keeps up for one run; `broker` enables the /metrics columns. */
export interface Running {
  readonly broker?: Broker;
  stop(): Promise<void>;
}

/** A row of a scenario: how to start what it measures and how to load it. */
export interface Contender<R extends Running = Running> {
  readonly name: string;
  setup(): Promise<R>;
  measure(running: R): Promise<Measurement>;
}

/** One row of medians (throughput, p50, p99), sums (errors) and peaks (Redis clients) over the repeats. */
export interface RowResult {
  readonly name: string;
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly clientsPeak: number;
  readonly clientsIdle: number;
  /** Connections Redis accepted during the run(s), median. */
  readonly connectionsOpened: number;
  readonly batchMean: number;
  /** The broker's main-pool bound from /metrics (NaN when not exported or not a broker row). */
  readonly poolMax: number;
  /** Broker CPU per operation in µs, median (NaN when not measured). */
  readonly cpuMicrosPerOp: number;
  /** Throughput of every repeat, for the spread. */
  readonly samples: readonly number[];
  readonly na?: string | undefined;
  readonly note?: string | undefined;
}

/** Builds a contender with its own Running type. */
export function contender<R extends Running>(c: Contender<R>): Contender {
  return c as unknown as Contender;
}

interface Run {
  readonly m: Measurement;
  readonly peak: number;
  readonly idle: number;
  readonly opened: number;
  readonly batchSum: number;
  readonly batchCount: number;
  readonly poolMax: number;
}

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 240);
}

/** Runs each contender `repeats` times, interleaved (a, b, c, a, b, c …), so drift hits every row alike. */
export async function runContenders(
  ctx: BenchContext,
  contenders: readonly Contender[],
  repeats = ctx.config.repeats,
): Promise<RowResult[]> {
  const runs = new Map<string, Run[]>(contenders.map((c) => [c.name, []]));
  const na = new Map<string, string>();
  const sampler = new ClientsSampler(ctx.redis.admin, ctx.config.sampleMs);
  for (let r = 0; r < repeats; r++) {
    for (const c of contenders) {
      if (na.has(c.name)) continue;
      ctx.log(`  ${c.name} (run ${r + 1}/${repeats})`);
      let running: Running | undefined;
      try {
        running = await c.setup();
        const before = running.broker ? batchTotals((await running.broker.metrics()) ?? '') : undefined;
        await sampler.start();
        const m = await c.measure(running);
        const sample = await sampler.stop();
        const text = running.broker ? ((await running.broker.metrics()) ?? '') : '';
        const after = running.broker ? batchTotals(text) : undefined;
        runs.get(c.name)!.push({
          m,
          peak: sample.peak,
          idle: sample.atStart,
          opened: sample.opened,
          batchSum: (after?.sum ?? Number.NaN) - (before?.sum ?? 0),
          batchCount: (after?.count ?? Number.NaN) - (before?.count ?? 0),
          poolMax: mainPoolMax(text) ?? Number.NaN,
        });
        if (m.errors > 0) ctx.log(`    ${m.errors} errors, first: ${m.firstError ?? '?'}`);
      } catch (err) {
        // a broker that cannot start fails every repeat alike, so the row is not retried
        na.set(c.name, reasonOf(err));
        ctx.log(`    n/a: ${reasonOf(err)}`);
        await sampler.stop().catch(() => undefined);
      } finally {
        await running?.stop().catch(() => undefined);
      }
    }
  }
  return contenders.map((c) => reduceRuns(c.name, runs.get(c.name) ?? [], na.get(c.name)));
}

/** Reduces the runs of one contender to one row. */
export function reduceRuns(name: string, runs: readonly Run[], na?: string): RowResult {
  if (runs.length === 0) {
    return {
      name,
      throughput: Number.NaN,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      errors: Number.NaN,
      clientsPeak: Number.NaN,
      clientsIdle: Number.NaN,
      connectionsOpened: Number.NaN,
      batchMean: Number.NaN,
      poolMax: Number.NaN,
      cpuMicrosPerOp: Number.NaN,
      samples: [],
      na: na ?? 'no run completed',
    };
  }
  const batchSum = runs.reduce((a, r) => a + r.batchSum, 0);
  const batchCount = runs.reduce((a, r) => a + r.batchCount, 0);
  const firstError = runs.find((r) => r.m.firstError !== undefined)?.m.firstError;
  const errors = runs.reduce((a, r) => a + r.m.errors, 0);
  const cpuMicrosPerOp = median(runs.map((r) => r.m.cpuMicrosPerOp ?? Number.NaN));
  return {
    name,
    throughput: median(runs.map((r) => r.m.throughput)),
    p50Ms: median(runs.map((r) => r.m.p50Ms)),
    p99Ms: median(runs.map((r) => r.m.p99Ms)),
    errors,
    clientsPeak: maxOf(runs.map((r) => r.peak)),
    clientsIdle: median(runs.map((r) => r.idle)),
    connectionsOpened: median(runs.map((r) => r.opened)),
    batchMean: batchCount > 0 ? batchSum / batchCount : Number.NaN,
    poolMax: maxOf(runs.map((r) => r.poolMax)),
    cpuMicrosPerOp,
    samples: runs.map((r) => r.m.throughput),
    note: [
      Number.isFinite(cpuMicrosPerOp) ? `broker CPU ${cpuMicrosPerOp.toFixed(1)} µs/op` : '',
      errors > 0 && firstError !== undefined ? `first error: ${firstError.slice(0, 100)}` : '',
      na === undefined ? '' : `a later run failed: ${na}`,
    ]
      .filter((s) => s !== '')
      .join('; '),
  };
}
