// Scenario 6: one client, sequential GETs — the latency Sluice adds over talking to Redis directly.
import { fromLoad, type SluiceRunning, setupConstant, setupSluice, setupWebdis } from '../lib/contenders.js';
import { type LoadResult, runLoad } from '../lib/loadgen.js';
import { contender, type RowResult, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { check, fmtMs, standardTable } from '../lib/table.js';

const DIRECT = 'direct ioredis';
const HTTP = 'Sluice HTTP POST / (keep-alive)';
const WS = 'Sluice WS cmd';

export const scenario: Scenario = {
  id: '6',
  title: 'Single client sequential GET latency',
  async run(ctx) {
    const { config } = ctx;
    const timing = { key: ctx.key, warmupS: config.warmupS, durationS: config.latencyS };
    const seq = async (args: Record<string, unknown>) =>
      fromLoad(await runLoad<LoadResult>('sequential', { ...timing, ...args }));
    const none = async () => ({ stop: async () => undefined });
    const rows = await runContenders(ctx, [
      contender({ name: DIRECT, setup: none, measure: () => seq({ kind: 'ioredis', port: ctx.redis.port }) }),
      contender<SluiceRunning>({
        name: HTTP,
        setup: () => setupSluice(ctx),
        measure: ({ broker }) => seq({ kind: 'http', url: broker.httpUrl, token: ctx.token }),
      }),
      contender<SluiceRunning>({
        name: WS,
        setup: () => setupSluice(ctx),
        measure: ({ broker }) => seq({ kind: 'ws', url: broker.wsUrl }),
      }),
      contender({
        name: 'webdis GET /GET/k (keep-alive)',
        setup: () => setupWebdis(ctx),
        measure: ({ peer }) =>
          seq({ kind: 'http-get', url: peer.httpUrl, path: `/GET/${encodeURIComponent(ctx.key)}` }),
      }),
      contender({
        name: 'constant Node HTTP POST (ceiling)',
        setup: () => setupConstant(ctx),
        measure: ({ peer }) => seq({ kind: 'http', url: peer.httpUrl, token: ctx.token }),
      }),
    ]);
    const direct = rows.find((r) => r.name === DIRECT);
    const added = (r: RowResult | undefined): number =>
      (r?.p50Ms ?? Number.NaN) - (direct?.p50Ms ?? Number.NaN);
    const notes = new Map(
      rows.filter((r) => r.name !== DIRECT).map((r) => [r.name, `p50 +${fmtMs(added(r))} ms over direct`]),
    );
    const http = added(rows.find((r) => r.name === HTTP));
    const ws = added(rows.find((r) => r.name === WS));
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `One request at a time for ${config.latencyS} s per run (node:http keep-alive agent, ws, ioredis); throughput = 1 / mean latency.`,
        '',
        ...standardTable(rows, { unit: 'req/s', ratioTo: DIRECT, notes }),
      ],
      checks: [
        check('latency: p50 added ≤ 0.2 ms (HTTP)', http, (v) => v <= 0.2, `+${fmtMs(http)} ms`),
        check('latency: p50 added ≤ 0.2 ms (WS)', ws, (v) => v <= 0.2, `+${fmtMs(ws)} ms`),
      ],
    };
  },
};
