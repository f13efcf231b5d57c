// Scenario 7: the broker's resident memory while it holds many idle WebSockets.
import { startBroker } from '../lib/broker.js';
import { runLoad } from '../lib/loadgen.js';
import { sleep, treeRssBytes } from '../lib/proc.js';
import { ClientsSampler } from '../lib/redis.js';
import type { Scenario } from '../lib/scenario.js';
import { type Check, check, fmt1, fmtInt, markdownTable } from '../lib/table.js';
import type { IdleWsResult } from '../load/idle-ws.js';

const MB = 1024 * 1024;
const TARGET_SOCKETS = 10000;

/** Several RSS readings a short while apart; the largest (memory settles upward as buffers fill). */
async function settledRss(pid: number, samples = 5, gapMs = 200): Promise<number> {
  let max = 0;
  for (let i = 0; i < samples; i++) {
    max = Math.max(max, treeRssBytes(pid));
    await sleep(gapMs);
  }
  return max;
}

export const scenario: Scenario = {
  id: '7',
  title: 'Idle WebSockets: broker RSS',
  async run(ctx) {
    const n = ctx.config.idleSockets;
    const header = [
      'sockets held',
      'opened',
      'failed',
      'closed while idle',
      'RSS idle MB',
      'RSS held MB',
      'KB / socket',
      'RSS at 10k MB',
      'Redis clients peak',
    ];
    const na = (reason: string) => ({
      id: this.id,
      title: this.title,
      rows: [],
      lines: [`n/a: ${reason}`],
      checks: [
        {
          target: 'RSS ≤ 200 MB with 10,000 idle WebSockets',
          measured: 'n/a',
          status: 'n/a',
        } satisfies Check,
      ],
    });
    let broker: Awaited<ReturnType<typeof startBroker>>;
    try {
      broker = await startBroker({
        redisUrl: ctx.redis.url,
        token: ctx.token,
        workers: 1,
        poolSize: ctx.config.poolSize,
        env: { SLUICE_WS_MAX_SOCKETS: String(Math.max(20000, 2 * n)) },
      });
    } catch (err) {
      return na((err as Error).message);
    }
    try {
      await fetch(`${broker.httpUrl}/`, {
        method: 'POST',
        body: JSON.stringify(['get', ctx.key]),
        headers: { authorization: `Bearer ${ctx.token}` },
      }).catch(() => undefined);
      await sleep(500);
      const idle = await settledRss(broker.pid);
      const sampler = new ClientsSampler(ctx.redis.admin, ctx.config.sampleMs);
      await sampler.start();
      let held = Number.NaN;
      const result = await runLoad<IdleWsResult>(
        'idle-ws',
        { url: broker.wsUrl, sockets: n, openConcurrency: 100 },
        {
          async onProgress(_data, child) {
            await sleep(2000);
            held = await settledRss(broker.pid);
            child.send({ type: 'release' });
          },
        },
      );
      const clients = await sampler.stop();
      if (result.opened === 0) return na(`no WebSocket opened: ${result.firstError ?? 'unknown'}`);
      const perSocket = (held - idle) / result.opened;
      const at10k = idle + perSocket * TARGET_SOCKETS;
      const row = [
        fmtInt(n),
        fmtInt(result.opened),
        fmtInt(result.failed),
        fmtInt(result.closedWhileIdle),
        fmt1(idle / MB),
        fmt1(held / MB),
        fmt1(perSocket / 1024),
        fmt1(at10k / MB),
        `${clients.peak} (${clients.atStart})`,
      ];
      const measuredAt10k = result.opened >= TARGET_SOCKETS ? held : at10k;
      const how = result.opened >= TARGET_SOCKETS ? 'measured' : `extrapolated from ${fmtInt(result.opened)}`;
      return {
        id: this.id,
        title: this.title,
        rows: [],
        lines: [
          `One broker process; sockets opened 100 at a time from a separate process, then held idle 2 s before reading /proc RSS (broker and its children).`,
          result.firstError === undefined ? '' : `First failure: ${result.firstError}`,
          '',
          ...markdownTable(header, [row]),
        ],
        checks: [
          check(
            'RSS ≤ 200 MB with 10,000 idle WebSockets',
            result.failed > 0 ? Number.NaN : measuredAt10k / MB,
            (v) => v <= 200,
            `${fmt1(measuredAt10k / MB)} MB (${how})${result.failed > 0 ? `, ${result.failed} sockets refused` : ''}`,
          ),
        ],
      };
    } finally {
      await broker.stop();
    }
  },
};
