// Scenario 10: read regions. A replica of the private Redis behind a delaying relay (the replication lag), a
// primary-region broker and a read-region broker: read throughput served by the replica, and the latency a
// read-your-writes read adds under that lag, side by side with the same reads on the primary.
import type { Redis } from 'ioredis';
import { startDelayRelay } from '../../test/helpers/delay-relay.js';
import {
  preflight,
  type SluiceRunning,
  setupSluice,
  singleRequest,
  wrkMeasure,
  fromLoad,
} from '../lib/contenders.js';
import { type LoadResult, runLoad } from '../lib/loadgen.js';
import { sleep } from '../lib/proc.js';
import { startRedis } from '../lib/redis.js';
import { type BenchContext, contender, runContenders } from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { fmtMs, standardTable } from '../lib/table.js';

const PRIMARY_GET = 'primary region: GET (on the primary)';
const REPLICA_GET = 'read region: GET without token (on the replica)';
const PRIMARY_RYW = 'primary region: read after own write';
const REPLICA_RYW = 'read region: read after own write, with its token';
const REPLICA_SEQ = 'read region: GET without token, one at a time';
const SECRET = 'bench-sync-secret';

/** Calls of GET so far, from INFO commandstats. */
async function getCalls(redis: Redis): Promise<number> {
  return Number(/^cmdstat_get:calls=(\d+)/m.exec(await redis.info('commandstats'))?.[1] ?? 0);
}

export const scenario: Scenario = {
  id: '10',
  title: 'Read regions: a replica behind a delayed replication link',
  async run(ctx: BenchContext) {
    const { config } = ctx;
    const lag = config.regionLagMs;
    const relay = await startDelayRelay({ port: ctx.redis.port }, { minMs: lag, maxMs: lag });
    const replica = await startRedis(['--replicaof', '127.0.0.1', String(relay.port)]);
    try {
      for (let i = 0; i < 400; i++) {
        if (/master_link_status:up/.test(await replica.admin.info('replication'))) break;
        await sleep(50);
      }
      const primaryRegion = () => setupSluice(ctx, { env: { SLUICE_SYNC_SECRET: SECRET } });
      const readRegion = () =>
        setupSluice(ctx, { env: { SLUICE_SYNC_SECRET: SECRET, SLUICE_REPLICA_URL: replica.url } });
      // GETs each row sent to the replica and to the primary, over its runs (from each server's commandstats)
      const gets = new Map<string, { replica: number; primary: number }>();
      const { body, headers } = singleRequest(ctx);
      const wrkGet = (name: string, setup: () => Promise<SluiceRunning>) =>
        contender<SluiceRunning>({
          name,
          setup,
          async measure({ broker }) {
            const url = `${broker.httpUrl}/`;
            const accept = (b: unknown) => (b as { result?: unknown })?.result === ctx.value;
            await preflight(url, { method: 'POST', body, headers }, accept);
            const r0 = await getCalls(replica.admin);
            const p0 = await getCalls(ctx.redis.admin);
            const m = await wrkMeasure(ctx, { url, method: 'POST', body, headers }, 1, broker.pid);
            const seen = gets.get(name) ?? { replica: 0, primary: 0 };
            seen.replica += (await getCalls(replica.admin)) - r0;
            seen.primary += (await getCalls(ctx.redis.admin)) - p0;
            gets.set(name, seen);
            return m;
          },
        });
      const throughputRows = await runContenders(ctx, [
        wrkGet(PRIMARY_GET, primaryRegion),
        wrkGet(REPLICA_GET, readRegion),
      ]);

      const timing = { warmupS: config.warmupS, durationS: config.latencyS };
      const ryw = (name: string, setup: () => Promise<SluiceRunning>) =>
        contender<SluiceRunning>({
          name,
          setup,
          measure: async ({ broker }) =>
            fromLoad(
              await runLoad<LoadResult>('read-your-writes', {
                ...timing,
                url: broker.httpUrl,
                token: ctx.token,
                key: 'bench:ryw',
              }),
            ),
        });
      const latencyRows = await runContenders(ctx, [
        ryw(PRIMARY_RYW, primaryRegion),
        ryw(REPLICA_RYW, readRegion),
        contender<SluiceRunning>({
          name: REPLICA_SEQ,
          setup: readRegion,
          measure: async ({ broker }) =>
            fromLoad(
              await runLoad<LoadResult>('sequential', {
                ...timing,
                kind: 'http',
                url: broker.httpUrl,
                token: ctx.token,
                key: ctx.key,
              }),
            ),
        }),
      ]);
      const share = (name: string): string => {
        const seen = gets.get(name);
        const all = (seen?.replica ?? 0) + (seen?.primary ?? 0);
        return all > 0 ? `${((seen!.replica / all) * 100).toFixed(1)}% of ${all} GETs on the replica` : '';
      };
      const primaryRyw = latencyRows.find((r) => r.name === PRIMARY_RYW);
      const replicaRyw = latencyRows.find((r) => r.name === REPLICA_RYW);
      const added = (p: 'p50Ms' | 'p99Ms') =>
        (replicaRyw?.[p] ?? Number.NaN) - (primaryRyw?.[p] ?? Number.NaN);
      return {
        id: this.id,
        title: this.title,
        rows: [...throughputRows, ...latencyRows],
        lines: [
          `A replica of the private Redis whose replication link runs through a relay adding ${lag} ms to every chunk (\`BENCH_REGION_LAG_MS\`), both ways; brokers with \`SLUICE_REPLICA_URL\` (read region) or without (primary region), default \`SLUICE_SYNC_WAIT_MS\`.`,
          '',
          `Read throughput: wrk \`POST /\` \`["get",k]\` without a sync token, ${config.connections} connections.`,
          '',
          ...standardTable(throughputRows, {
            unit: 'req/s',
            ratioTo: PRIMARY_GET,
            notes: new Map([
              [PRIMARY_GET, share(PRIMARY_GET)],
              [REPLICA_GET, share(REPLICA_GET)],
            ]),
          }),
          '',
          `Read-your-writes: one client, \`SET k i\` then \`GET k\` carrying the SET's \`upstash-sync-token\`, for ${config.latencyS} s; the latency of the GET alone (a GET that misses its write counts as an error).`,
          '',
          ...standardTable(latencyRows, {
            unit: 'reads/s',
            ratioTo: PRIMARY_RYW,
            notes: new Map([
              [
                REPLICA_RYW,
                `p50 +${fmtMs(added('p50Ms'))} ms, p99 +${fmtMs(added('p99Ms'))} ms over the primary region`,
              ],
            ]),
          }),
        ],
        checks: [],
      };
    } finally {
      await replica.stop();
      await relay.close();
    }
  },
};
