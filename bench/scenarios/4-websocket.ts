// Scenario 4: WebSockets with many GETs in flight per socket, against direct auto-pipelined ioredis (the floor).
import { cpuWindow, fromLoad, type SluiceRunning, setupSluice } from '../lib/contenders.js';
import { type LoadResult, runLoad } from '../lib/loadgen.js';
import { type BenchContext, contender, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { check, fmtRatio, standardTable } from '../lib/table.js';

const DIRECT = 'direct ioredis (auto-pipelined)';

function sluiceWs(ctx: BenchContext, name: string, mode: 'cmd' | 'pipeline') {
  const { config } = ctx;
  return contender<SluiceRunning>({
    name,
    setup: () => setupSluice(ctx),
    async measure({ broker }) {
      const args = {
        url: broker.wsUrl,
        sockets: config.wsSockets,
        window: config.wsWindow,
        mode,
        pipelineSize: config.pipelineSize,
        key: ctx.key,
        value: ctx.value,
        warmupS: config.warmupS,
        durationS: config.durationS,
      };
      const cpu = cpuWindow([broker.pid]);
      const result = await runLoad<LoadResult>('ws-throughput', args, cpu.hooks);
      return { ...fromLoad(result), cpuMicrosPerOp: cpu.microsPerOp(result.ops) };
    },
  });
}

export const scenario: Scenario = {
  id: '4',
  title: 'WebSocket pipelined GETs (commands/s)',
  async run(ctx) {
    const { config } = ctx;
    const cmd = `Sluice WS, ${config.wsWindow} cmd frames in flight`;
    const pipe = `Sluice WS, pipeline frames ×${config.pipelineSize}`;
    const rows = await runContenders(ctx, [
      sluiceWs(ctx, cmd, 'cmd'),
      sluiceWs(ctx, pipe, 'pipeline'),
      contender({
        name: DIRECT,
        setup: async () => ({ stop: async () => undefined }),
        async measure() {
          const args = {
            port: ctx.redis.port,
            callers: config.wsSockets,
            window: config.wsWindow,
            key: ctx.key,
            value: ctx.value,
            warmupS: config.warmupS,
            durationS: config.durationS,
          };
          return fromLoad(await runLoad<LoadResult>('ioredis-throughput', args));
        },
      }),
    ]);
    const ratio =
      (rows.find((r) => r.name === cmd)?.throughput ?? Number.NaN) /
      (rows.find((r) => r.name === DIRECT)?.throughput ?? Number.NaN);
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `${config.wsSockets} sockets × ${config.wsWindow} requests in flight, one load process; direct ioredis runs ${config.wsSockets} × ${config.wsWindow} concurrent GETs on one auto-pipelined client. p50/p99 per frame.`,
        '',
        ...standardTable(rows, { unit: 'cmd/s', ratioTo: DIRECT }),
      ],
      checks: [check('WS ≥ 0.6× direct ioredis cmd/s', ratio, (v) => v >= 0.6, fmtRatio(ratio))],
    };
  },
};
