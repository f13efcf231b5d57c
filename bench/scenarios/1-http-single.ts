// Scenario 1: one command per HTTP request over keep-alive connections — Sluice vs webdis vs the HTTP ceiling.
import {
  fromLoad,
  preflight,
  type SluiceRunning,
  setupConstant,
  setupSluice,
  setupWebdis,
  singleRequest,
  wrkMeasure,
} from '../lib/contenders.js';
import { runRedisBenchmark } from '../lib/redis-benchmark.js';
import { type BenchContext, contender, type RowResult, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { check, fmtRatio, standardTable } from '../lib/table.js';

/** Row names later scenarios refer to. */
export const SLUICE_1W = 'Sluice POST / (1 worker)';
export const WEBDIS = 'webdis GET /GET/k';

/** Measures `POST /` `["get",k]` on a Sluice started with `workers`. */
export function sluiceSingle(ctx: BenchContext, name: string, workers?: number, env?: NodeJS.ProcessEnv) {
  const { body, headers } = singleRequest(ctx);
  return contender<SluiceRunning>({
    name,
    setup: () => setupSluice(ctx, { ...(workers === undefined ? {} : { workers }), ...(env ? { env } : {}) }),
    async measure({ broker }) {
      const url = `${broker.httpUrl}/`;
      await preflight(
        url,
        { method: 'POST', body, headers },
        (b) => (b as { result?: unknown })?.result === ctx.value,
      );
      return wrkMeasure(ctx, { url, method: 'POST', body, headers }, 1, broker.pid);
    },
  });
}

export const scenario: Scenario = {
  id: '1',
  title: `HTTP single command (wrk, keep-alive connections)`,
  async run(ctx) {
    const { config } = ctx;
    const { body, headers } = singleRequest(ctx);
    const multi = `Sluice POST / (${config.multiWorkers} workers)`;
    const rows = await runContenders(ctx, [
      sluiceSingle(ctx, SLUICE_1W, 1),
      sluiceSingle(ctx, multi, config.multiWorkers),
      contender({
        name: WEBDIS,
        setup: () => setupWebdis(ctx),
        async measure({ peer }) {
          const url = `${peer.httpUrl}/GET/${encodeURIComponent(ctx.key)}`;
          await preflight(url, { method: 'GET' }, (b) => (b as { GET?: unknown })?.GET === ctx.value);
          return wrkMeasure(ctx, { url, method: 'GET' });
        },
      }),
      contender({
        name: 'constant Node HTTP (ceiling, 1 process)',
        setup: () => setupConstant(ctx),
        measure: ({ peer }) => wrkMeasure(ctx, { url: `${peer.httpUrl}/`, method: 'POST', body, headers }),
      }),
      contender({
        name: `constant Node HTTP (ceiling, ${config.multiWorkers} processes)`,
        setup: () => setupConstant(ctx, config.multiWorkers),
        measure: ({ peer }) => wrkMeasure(ctx, { url: `${peer.httpUrl}/`, method: 'POST', body, headers }),
      }),
      contender({
        name: `redis-benchmark -c ${config.connections} (RESP, no HTTP)`,
        setup: async () => ({ stop: async () => undefined }),
        async measure() {
          const r = await runRedisBenchmark(
            ctx.redis.port,
            config.connections,
            config.redisBenchmarkRequests,
          );
          return fromLoad({ ops: r.requestsPerS, seconds: 1, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: 0 });
        },
      }),
    ]);
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `${config.connections} connections, ${config.wrkThreads} wrk thread(s); medians of ${config.repeats} interleaved run(s) of ${config.durationS} s.`,
        '',
        ...standardTable(rows, { unit: 'req/s', ratioTo: WEBDIS }),
      ],
      checks: [bestVsWebdis(rows, [SLUICE_1W, multi])],
    };
  },
};

function bestVsWebdis(rows: readonly RowResult[], names: readonly string[]) {
  const webdis = rows.find((r) => r.name === WEBDIS)?.throughput ?? Number.NaN;
  const ratios = names.map(
    (n) => [n, (rows.find((r) => r.name === n)?.throughput ?? Number.NaN) / webdis] as const,
  );
  const best = Math.max(...ratios.map(([, r]) => (Number.isFinite(r) ? r : -1)));
  const measured = ratios.map(([n, r]) => `${fmtRatio(r)} ${n.replace(/^Sluice POST \/ /, '')}`).join(', ');
  return check('Sluice ≥ 1.0× webdis req/s', best < 0 ? Number.NaN : best, (v) => v >= 1, measured);
}
