// Scenario 2: /pipeline with N GETs per request — commands per second against scenario 1's single commands.
import {
  fromLoad,
  pipelineRequest,
  preflight,
  type SluiceRunning,
  setupSluice,
  wrkMeasure,
} from '../lib/contenders.js';
import { runRedisBenchmark } from '../lib/redis-benchmark.js';
import { type BenchContext, contender, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { check, fmtInt, fmtRatio, standardTable } from '../lib/table.js';
import { SLUICE_1W } from './1-http-single.js';

function sluicePipeline(ctx: BenchContext, name: string, workers: number) {
  const size = ctx.config.pipelineSize;
  const { body, headers } = pipelineRequest(ctx, size);
  return contender<SluiceRunning>({
    name,
    setup: () => setupSluice(ctx, { workers }),
    async measure({ broker }) {
      const url = `${broker.httpUrl}/pipeline`;
      const accept = (b: unknown): boolean =>
        Array.isArray(b) && b.length === size && (b[0] as { result?: unknown })?.result === ctx.value;
      await preflight(url, { method: 'POST', body, headers }, accept);
      return wrkMeasure(ctx, { url, method: 'POST', body, headers }, size);
    },
  });
}

export const scenario: Scenario = {
  id: '2',
  title: 'HTTP /pipeline (commands/s)',
  async run(ctx, earlier) {
    const { config } = ctx;
    const size = config.pipelineSize;
    const one = `Sluice /pipeline ×${size} (1 worker)`;
    const multi = `Sluice /pipeline ×${size} (${config.multiWorkers} workers)`;
    const rows = await runContenders(ctx, [
      sluicePipeline(ctx, one, 1),
      sluicePipeline(ctx, multi, config.multiWorkers),
      contender({
        name: `redis-benchmark -c ${config.connections} -P ${size} (RESP)`,
        setup: async () => ({ stop: async () => undefined }),
        async measure() {
          const r = await runRedisBenchmark(
            ctx.redis.port,
            config.connections,
            config.redisBenchmarkRequests * 4,
            size,
          );
          return fromLoad({ ops: r.requestsPerS, seconds: 1, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: 0 });
        },
      }),
    ]);
    const single = earlier.get('1')?.rows.find((r) => r.name === SLUICE_1W)?.throughput ?? Number.NaN;
    const piped = rows.find((r) => r.name === one)?.throughput ?? Number.NaN;
    const ratio = piped / single;
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `${size} GETs per request, ${config.connections} connections; throughput counts commands (requests × ${size}); p50/p99 are per request.`,
        '',
        ...standardTable(rows, { unit: 'cmd/s' }),
        '',
        `Sluice 1 worker: ${fmtInt(piped)} cmd/s = ${fmtRatio(ratio)} scenario 1's ${fmtInt(single)} cmd/s.`,
      ],
      checks: [check(`/pipeline ≥ 4× scenario 1 cmd/s (1 worker)`, ratio, (v) => v >= 4, fmtRatio(ratio))],
    };
  },
};
