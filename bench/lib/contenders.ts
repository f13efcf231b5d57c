// Building blocks shared by scenarios: start Sluice or a peer for one run, check it answers, load it with wrk.
import { type Broker, startBroker } from './broker.js';
import { type HttpPeer, startConstantHttp, startWebdis } from './peers.js';
import type { LoadHooks } from './loadgen.js';
import { cpuSeconds } from './proc.js';
import type { BenchContext, Measurement, Running } from './rows.js';
import { runWrk, type WrkOptions } from './wrk.js';

/** A running Sluice broker as a contender's Running. */
export interface SluiceRunning extends Running {
  readonly broker: Broker;
}

/** A running HTTP peer as a contender's Running. */
export interface PeerRunning extends Running {
  readonly peer: HttpPeer;
}

/** Options of one Sluice start. */
export interface SluiceSetup {
  readonly workers?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts the broker on the private Redis with the run's token and pool size. */
export async function setupSluice(ctx: BenchContext, options: SluiceSetup = {}): Promise<SluiceRunning> {
  const broker = await startBroker({
    redisUrl: ctx.redis.url,
    token: ctx.token,
    workers: options.workers,
    poolSize: ctx.config.poolSize,
    env: options.env ?? {},
  });
  return { broker, stop: () => broker.stop() };
}

/** Starts webdis on the private Redis. */
export async function setupWebdis(ctx: BenchContext): Promise<PeerRunning> {
  const peer = await startWebdis(ctx.redis.port);
  return { peer, stop: () => peer.stop() };
}

/** Starts the constant-reply Node HTTP server (`processes` > 1: node:cluster workers sharing the port). */
export async function setupConstant(ctx: BenchContext, processes = 1): Promise<PeerRunning> {
  const peer = await startConstantHttp(ctx.value, processes);
  return { peer, stop: () => peer.stop() };
}

/** The REST request of scenario 1: `POST /` with `["get", key]`. */
export function singleRequest(ctx: BenchContext): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify(['get', ctx.key]),
    headers: { authorization: `Bearer ${ctx.token}`, 'content-type': 'application/json' },
  };
}

/** The REST request of scenario 2: `POST /pipeline` with `size` GETs. */
export function pipelineRequest(
  ctx: BenchContext,
  size: number,
): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify(Array.from({ length: size }, () => ['get', ctx.key])),
    headers: { authorization: `Bearer ${ctx.token}`, 'content-type': 'application/json' },
  };
}

/** Sends one request and throws unless the reply is 200 and `accept` likes the JSON body (features may be missing). */
export async function preflight(
  url: string,
  init: RequestInit,
  accept: (body: unknown) => boolean,
): Promise<void> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.status !== 200 || !accept(body)) {
    throw new Error(
      `${init.method ?? 'GET'} ${new URL(url).pathname} answered ${response.status} ${text.slice(0, 120)}`,
    );
  }
}

/** Runs wrk against `url` (1 s warm-up run first unless the warm-up is shorter), scaled to `opsPerRequest`. */
export async function wrkMeasure(
  ctx: BenchContext,
  options: Omit<WrkOptions, 'connections' | 'threads' | 'durationS'>,
  opsPerRequest = 1,
  brokerPid?: number,
): Promise<Measurement> {
  const base = { ...options, connections: ctx.config.connections, threads: ctx.config.wrkThreads };
  if (ctx.config.warmupS >= 0.5) await runWrk({ ...base, durationS: ctx.config.warmupS });
  const cpuBefore = brokerPid === undefined ? Number.NaN : cpuSeconds(brokerPid);
  const result = await runWrk({ ...base, durationS: ctx.config.durationS });
  const cpu = brokerPid === undefined ? Number.NaN : cpuSeconds(brokerPid) - cpuBefore;
  return {
    throughput: result.requestsPerS * opsPerRequest,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    errors: result.errors,
    firstError: result.errors > 0 ? 'wrk counted socket errors or non-2xx responses' : undefined,
    cpuMicrosPerOp: (cpu * 1e6) / (result.requests * opsPerRequest),
  };
}

/**
 * CPU (user + system, with descendants) over a load generator's measured window, which its Recorder marks with
 * `{ window: 'begin' | 'end' }` progress, per operation: of `pids` summed (the processes serving the load, e.g. the
 * broker, or nginx and the broker behind it) and of the load generator itself.
 */
export function cpuWindow(pids: readonly number[]): {
  hooks: LoadHooks;
  microsPerOp: (ops: number) => number;
  generatorMicrosPerOp: (ops: number) => number;
} {
  const served = [Number.NaN, Number.NaN];
  const generator = [Number.NaN, Number.NaN];
  const perOp = (span: number[], ops: number) => (((span[1] ?? 0) - (span[0] ?? 0)) * 1e6) / ops;
  return {
    hooks: {
      onProgress(data, child) {
        const i = data['window'] === 'begin' ? 0 : data['window'] === 'end' ? 1 : -1;
        if (i < 0) return;
        served[i] = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
        generator[i] = child.pid === undefined ? Number.NaN : cpuSeconds(child.pid);
      },
    },
    microsPerOp: (ops) => perOp(served, ops),
    generatorMicrosPerOp: (ops) => perOp(generator, ops),
  };
}

/** A JSON number from a child process: NaN travels as null. */
function num(x: unknown): number {
  return typeof x === 'number' ? x : Number.NaN;
}

/** A load generator's result as a Measurement; throws (so the row says n/a) when nothing succeeded. */
export function fromLoad(result: {
  ops: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string | undefined;
}): Measurement {
  if (result.ops === 0 && result.errors > 0) {
    throw new Error(`every request failed (${result.errors}): ${result.firstError ?? 'no message'}`);
  }
  return {
    throughput: result.seconds > 0 ? result.ops / result.seconds : Number.NaN,
    p50Ms: num(result.p50Ms),
    p99Ms: num(result.p99Ms),
    errors: result.errors,
    firstError: result.firstError,
  };
}
