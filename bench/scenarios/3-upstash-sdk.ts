// Scenario 3: the real @upstash/redis SDK with default options, many concurrent callers doing get/set.
import { fromLoad, type SluiceRunning, setupSluice } from '../lib/contenders.js';
import { type LoadResult, runLoad } from '../lib/loadgen.js';
import { contender, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { standardTable } from '../lib/table.js';

const DIRECT = 'direct ioredis, same callers';

export const scenario: Scenario = {
  id: '3',
  title: '@upstash/redis default client (get/set)',
  async run(ctx) {
    const { config } = ctx;
    const common = {
      callers: config.upstashCallers,
      keys: 100,
      value: ctx.value,
      warmupS: config.warmupS,
      durationS: config.durationS,
    };
    const rows = await runContenders(ctx, [
      contender<SluiceRunning>({
        name: 'Sluice via @upstash/redis',
        setup: () => setupSluice(ctx),
        measure: async ({ broker }) =>
          fromLoad(
            await runLoad<LoadResult>('upstash', {
              ...common,
              client: 'upstash',
              url: broker.httpUrl,
              token: ctx.token,
            }),
          ),
      }),
      contender({
        name: DIRECT,
        setup: async () => ({ stop: async () => undefined }),
        measure: async () =>
          fromLoad(
            await runLoad<LoadResult>('upstash', { ...common, client: 'ioredis', port: ctx.redis.port }),
          ),
      }),
    ]);
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `${config.upstashCallers} async callers in one load process, alternating SET and GET on 100 keys; the SDK's defaults (auto-pipelining on, so it POSTs /pipeline).`,
        '',
        ...standardTable(rows, { unit: 'ops/s', ratioTo: DIRECT }),
      ],
      checks: [],
    };
  },
};
