// Harness configuration from BENCH_* environment variables; defaults fit a 2-core machine in under 5 minutes.

/** Every knob of a bench run. Durations in seconds, sizes in counts or bytes as named. */
export interface BenchConfig {
  /** `BENCH_QUICK=1`: a ~1 minute smoke run (short runs, one repeat, smaller storms). */
  readonly quick: boolean;
  /** Measured seconds of one throughput run (`BENCH_DURATION_S`). */
  readonly durationS: number;
  /**
   * Untimed seconds before each measured run (`BENCH_WARMUP_S`); wrk warms up for at least 1 s when this is
   * ≥ 0.5. Each run starts a fresh broker, and V8 needs a couple of seconds under load to optimise the hot path:
   * with 1 s the first measured second still ran partly unoptimised code (up to −40% against a warm broker).
   */
  readonly warmupS: number;
  /** Runs per row, interleaved across a scenario's rows; the table shows medians (`BENCH_REPEATS`). */
  readonly repeats: number;
  /** HTTP keep-alive connections for wrk (`BENCH_CONNECTIONS`). */
  readonly connections: number;
  /** wrk threads (`BENCH_WRK_THREADS`). */
  readonly wrkThreads: number;
  /** Commands per /pipeline request and per WS pipeline frame (`BENCH_PIPELINE_SIZE`). */
  readonly pipelineSize: number;
  /** Concurrent async callers of the @upstash/redis scenario (`BENCH_UPSTASH_CALLERS`). */
  readonly upstashCallers: number;
  /** WebSockets of the WS scenario (`BENCH_WS_SOCKETS`). */
  readonly wsSockets: number;
  /** Requests in flight per WebSocket (and per direct-ioredis caller) (`BENCH_WS_WINDOW`). */
  readonly wsWindow: number;
  /** Invocations of one connection storm (`BENCH_STORM_TOTAL`). */
  readonly stormTotal: number;
  /** Invocations in flight during a storm (`BENCH_STORM_CONCURRENCY`). */
  readonly stormConcurrency: number;
  /**
   * Invocations a separate load process runs before each measured storm, not recorded (`BENCH_STORM_WARMUP`): the
   * broker starts cold for every run, as throughput runs do before their warm-up; the measured clients stay cold.
   * It takes thousands of connections to warm it: after 400 the broker still spent 180 µs of user CPU per
   * WebSocket invocation, after 2,000 115 µs, after 4,000 and 8,000 75–85 µs (the plateau).
   */
  readonly stormWarmup: number;
  /** Idle WebSockets held open for the RSS scenario (`BENCH_IDLE_SOCKETS`). */
  readonly idleSockets: number;
  /** Seconds of each sequential-latency run (`BENCH_LATENCY_S`). */
  readonly latencyS: number;
  /** `--pool-size` passed to the broker; undefined leaves the broker's default (`BENCH_POOL_SIZE`). */
  readonly poolSize: number | undefined;
  /** Worker count of the multi-process Sluice rows (`BENCH_WORKERS`). */
  readonly multiWorkers: number;
  /** Bytes of the value stored under the benchmark key (`BENCH_VALUE_BYTES`). */
  readonly valueBytes: number;
  /** Interval of the Redis `INFO clients` sampler in ms (`BENCH_SAMPLE_MS`). */
  readonly sampleMs: number;
  /** Requests of each redis-benchmark reference run (`BENCH_RB_REQUESTS`). */
  readonly redisBenchmarkRequests: number;
  /** Delay the relay adds to every chunk of the replica's replication link in scenario 10, in ms (`BENCH_REGION_LAG_MS`). */
  readonly regionLagMs: number;
  /** Scenario ids to run, e.g. "1,2,6"; empty runs all (`BENCH_SCENARIOS`). */
  readonly scenarios: ReadonlySet<string>;
  /** Where the markdown table goes; default bench/results/<date>.md (`BENCH_OUT`). */
  readonly out: string | undefined;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Reads the configuration from `env`; throws one message naming the bad variable. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const quick = env['BENCH_QUICK'] === '1' || env['BENCH_QUICK'] === 'true';
  const pool = env['BENCH_POOL_SIZE'];
  return Object.freeze({
    quick,
    durationS: num(env, 'BENCH_DURATION_S', quick ? 1.5 : 2),
    warmupS: num(env, 'BENCH_WARMUP_S', quick ? 0.3 : 2),
    repeats: Math.round(num(env, 'BENCH_REPEATS', quick ? 1 : 3)),
    connections: Math.round(num(env, 'BENCH_CONNECTIONS', 50)),
    wrkThreads: Math.round(num(env, 'BENCH_WRK_THREADS', 1)),
    pipelineSize: Math.round(num(env, 'BENCH_PIPELINE_SIZE', 10)),
    upstashCallers: Math.round(num(env, 'BENCH_UPSTASH_CALLERS', 200)),
    wsSockets: Math.round(num(env, 'BENCH_WS_SOCKETS', 100)),
    wsWindow: Math.round(num(env, 'BENCH_WS_WINDOW', 10)),
    stormTotal: Math.round(num(env, 'BENCH_STORM_TOTAL', quick ? 600 : 2000)),
    stormConcurrency: Math.round(num(env, 'BENCH_STORM_CONCURRENCY', 200)),
    stormWarmup: Math.round(num(env, 'BENCH_STORM_WARMUP', quick ? 100 : 4000)),
    idleSockets: Math.round(num(env, 'BENCH_IDLE_SOCKETS', quick ? 2000 : 10000)),
    latencyS: num(env, 'BENCH_LATENCY_S', quick ? 1 : 2),
    poolSize: pool === undefined || pool === '' ? undefined : Math.round(num(env, 'BENCH_POOL_SIZE', 4)),
    multiWorkers: Math.round(num(env, 'BENCH_WORKERS', 2)),
    valueBytes: Math.round(num(env, 'BENCH_VALUE_BYTES', 32)),
    sampleMs: num(env, 'BENCH_SAMPLE_MS', 25),
    redisBenchmarkRequests: Math.round(num(env, 'BENCH_RB_REQUESTS', quick ? 50000 : 100000)),
    regionLagMs: num(env, 'BENCH_REGION_LAG_MS', 50),
    scenarios: new Set(
      (env['BENCH_SCENARIOS'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
    out: env['BENCH_OUT'] === '' ? undefined : env['BENCH_OUT'],
  });
}
