// Scenario 5: a connection storm — every invocation opens a fresh connection, runs one GET and closes it.
import { fromLoad, type SluiceRunning, setupSluice } from '../lib/contenders.js';
import type { StormTarget } from '../load/storm.js';
import { type LoadResult, runLoad } from '../lib/loadgen.js';
import { contender, type RowResult, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { type Check, check, fmtMs, standardTable } from '../lib/table.js';

const HTTP = 'Sluice HTTP, new connection each';
const WS = 'Sluice WS, new socket each';
const DIRECT = 'direct ioredis, new client each';

export const scenario: Scenario = {
  id: '5',
  title: 'Connection storm (fresh connection per invocation)',
  async run(ctx) {
    const { config } = ctx;
    const storm = {
      total: config.stormTotal,
      concurrency: config.stormConcurrency,
      key: ctx.key,
      value: ctx.value,
    };
    // The server side is long-running in production, the clients are not: a separate, unrecorded load process
    // warms the broker (Redis has nothing to warm) before each measured storm, whose own process starts cold.
    const stormOf = async (target: StormTarget): Promise<LoadResult> => {
      if (config.stormWarmup > 0)
        await runLoad<LoadResult>('storm', { ...storm, ...target, total: config.stormWarmup });
      return runLoad<LoadResult>('storm', { ...storm, ...target });
    };
    const rows = await runContenders(ctx, [
      contender<SluiceRunning>({
        name: HTTP,
        setup: () => setupSluice(ctx),
        measure: async ({ broker }) =>
          fromLoad(await stormOf({ kind: 'http', url: broker.httpUrl, token: ctx.token })),
      }),
      contender<SluiceRunning>({
        name: WS,
        setup: () => setupSluice(ctx),
        measure: async ({ broker }) => fromLoad(await stormOf({ kind: 'ws', url: broker.wsUrl })),
      }),
      contender({
        name: DIRECT,
        setup: async () => ({ stop: async () => undefined }),
        measure: async () => fromLoad(await stormOf({ kind: 'ioredis', port: ctx.redis.port })),
      }),
    ]);
    const notes = new Map(
      rows.map((r) => [r.name, `${r.connectionsOpened} new Redis connections, warm-up included`]),
    );
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `${config.stormTotal} invocations, ${config.stormConcurrency} at a time, each after ${config.stormWarmup} unrecorded ones from another process (a warm server, cold clients); throughput is invocations/s; latency includes connecting. "idle" is connected_clients when the run began (Sluice: its pool).`,
        '',
        ...standardTable(rows, { unit: 'inv/s', ratioTo: DIRECT, notes }),
      ],
      checks: stormChecks(rows, config.poolSize),
    };
  },
};

function stormChecks(rows: readonly RowResult[], poolSize: number | undefined): Check[] {
  const get = (name: string): RowResult | undefined => rows.find((r) => r.name === name);
  const sluice = [get(HTTP), get(WS)].filter((r): r is RowResult => r !== undefined && r.na === undefined);
  const direct = get(DIRECT);
  const checks: Check[] = [];
  const errors = sluice.length === 0 ? Number.NaN : sluice.reduce((a, r) => a + r.errors, 0);
  checks.push(check('storm: zero errors through Sluice', errors, (v) => v === 0, `${errors} (HTTP + WS)`));
  // the pool is what the broker held when the storm began, or the configured size when the harness set one
  const over = sluice.map((r) => r.clientsPeak - (poolSize ?? Math.max(r.clientsIdle, 1)));
  checks.push(
    check(
      'storm: Redis connected_clients never above the pool',
      over.length === 0 ? Number.NaN : Math.max(...over),
      (v) => v <= 0,
      sluice
        .map((r) => `${r.clientsPeak} peak vs ${poolSize ?? r.clientsIdle} (${r.name.split(',')[0]})`)
        .join('; '),
    ),
  );
  for (const r of sluice) {
    const d = direct?.p99Ms ?? Number.NaN;
    checks.push(
      check(
        `storm: ${r.name.split(',')[0]} p99 below direct`,
        r.p99Ms - d,
        (v) => v < 0,
        `${fmtMs(r.p99Ms)} vs ${fmtMs(d)} ms`,
      ),
    );
  }
  return checks;
}
