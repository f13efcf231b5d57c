// Scenario 8: the cost of metrics — scenario 1's load with metrics on and with SLUICE_METRICS_ENABLED=false.
import { runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { check, standardTable } from '../lib/table.js';
import { sluiceSingle } from './1-http-single.js';

const ON = 'Sluice POST /, metrics on';
const OFF = 'Sluice POST /, SLUICE_METRICS_ENABLED=false';

export const scenario: Scenario = {
  id: '8',
  title: 'Metrics on vs off',
  async run(ctx) {
    const rows = await runContenders(ctx, [
      sluiceSingle(ctx, ON, 1),
      sluiceSingle(ctx, OFF, 1, { SLUICE_METRICS_ENABLED: 'false' }),
    ]);
    const on = rows.find((r) => r.name === ON);
    const off = rows.find((r) => r.name === OFF);
    const cost = off && on ? (off.throughput - on.throughput) / off.throughput : Number.NaN;
    // Broker CPU per request is shown beside throughput: on a shared 2-core VM throughput moves by far more than
    // 5% between identical runs, and CPU per request says whether the broker itself did more work.
    const cpuCost = off && on ? (on.cpuMicrosPerOp - off.cpuMicrosPerOp) / off.cpuMicrosPerOp : Number.NaN;
    const ignored = off !== undefined && Number.isFinite(off.batchMean);
    return {
      id: this.id,
      title: this.title,
      rows,
      lines: [
        `Same load as scenario 1 (1 worker); medians of ${ctx.config.repeats} interleaved run(s).`,
        '',
        ...standardTable(rows, { unit: 'req/s', ratioTo: OFF }),
        '',
        `Broker CPU per request with metrics on: ${signedPercent(cpuCost)} against off; throughput: ${signedPercent(-cost)}.`,
        '',
        ignored
          ? 'Note: /metrics still reported batches with SLUICE_METRICS_ENABLED=false; the switch may be ignored.'
          : '',
      ],
      checks: [
        check(
          'metrics on vs off: < 5% throughput difference',
          Math.abs(cost),
          (v) => v < 0.05,
          `${Math.abs(cost * 100).toFixed(1)}% ${cost >= 0 ? 'slower' : 'faster'} with metrics on (broker CPU per request ${signedPercent(cpuCost)})`,
        ),
      ],
    };
  },
};

/** `+3.1%` / `−2.0%`, or `n/a`. */
function signedPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return 'n/a';
  return `${fraction >= 0 ? '+' : '−'}${Math.abs(fraction * 100).toFixed(1)}%`;
}
