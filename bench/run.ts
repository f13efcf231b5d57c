// Entry point of `npm run bench`: starts a private Redis, runs every scenario of issue 7 and writes the table.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { readConfig } from './lib/config.js';
import { RESULTS_DIR, ROOT } from './lib/paths.js';
import { runCommand } from './lib/proc.js';
import { startRedis } from './lib/redis.js';
import type { BenchContext } from './lib/rows.js';
import type { Scenario, ScenarioOutcome } from './lib/scenario.js';
import { checksTable } from './lib/table.js';
import { scenario as httpSingle } from './scenarios/1-http-single.js';
import { scenario as httpPipeline } from './scenarios/2-http-pipeline.js';
import { scenario as upstashSdk } from './scenarios/3-upstash-sdk.js';
import { scenario as websocket } from './scenarios/4-websocket.js';
import { scenario as storm } from './scenarios/5-connection-storm.js';
import { scenario as latency } from './scenarios/6-latency.js';
import { scenario as idleSockets } from './scenarios/7-idle-sockets.js';
import { scenario as metricsOverhead } from './scenarios/8-metrics-overhead.js';
import { scenario as tls } from './scenarios/9-tls.js';
import { scenario as readRegions } from './scenarios/10-read-regions.js';

const SCENARIOS: readonly Scenario[] = [
  httpSingle,
  httpPipeline,
  upstashSdk,
  websocket,
  storm,
  latency,
  idleSockets,
  metricsOverhead,
  tls,
  readRegions,
];

const started = Date.now();
function log(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`);
}

async function quietly(command: string, args: string[], pick: (out: string) => string): Promise<string> {
  try {
    return pick(await runCommand(command, args, 5000));
  } catch {
    return 'unknown';
  }
}

/** CPU busy share of the whole machine over `ms`, from /proc/stat: other work skews every figure, so the report shows it. */
async function busyPercent(ms = 1000): Promise<string> {
  const read = (): number[] =>
    readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  try {
    const a = read();
    await new Promise((r) => setTimeout(r, ms));
    const b = read();
    const delta = b.map((v, i) => v - (a[i] ?? 0));
    const total = delta.reduce((x, y) => x + y, 0);
    const idle = (delta[3] ?? 0) + (delta[4] ?? 0);
    return total > 0 ? `${(((total - idle) / total) * 100).toFixed(0)}%` : 'unknown';
  } catch {
    return 'unknown';
  }
}

async function environment(redisVersion: string, busyBefore: string): Promise<string[]> {
  const commit = await quietly('git', ['-C', ROOT, 'log', '-1', '--format=%h %s'], (o) => o.trim());
  const dirty = await quietly(
    'git',
    ['-C', ROOT, 'status', '--porcelain', '--', 'broker', 'metrics', 'client'],
    (o) => (o.trim() === '' ? 'clean' : 'uncommitted changes in broker/metrics/client'),
  );
  // wrk --version exits non-zero, so its output is read regardless of the status
  const wrk = /wrk (\S+)/.exec(String(spawnSync('wrk', ['--version']).stdout))?.[1] ?? 'unknown';
  const webdis = await quietly('dpkg-query', ['-W', 'webdis'], (o) => o.trim().split('\t')[1] ?? 'unknown');
  const cpu = cpus();
  return [
    `- commit: ${commit} (${dirty})`,
    `- machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}; load generator, broker and Redis share these cores`,
    `- node ${process.version}, redis-server ${redisVersion}, webdis ${webdis}, wrk ${wrk}`,
    `- machine CPU busy in the second before the run: ${busyBefore} (other work shares the cores and skews every figure)`,
  ];
}

async function main(): Promise<void> {
  const config = readConfig();
  const busyBefore = await busyPercent();
  const chosen = SCENARIOS.filter((s) => config.scenarios.size === 0 || config.scenarios.has(s.id));
  log(`${config.quick ? 'quick run' : 'full run'}: scenarios ${chosen.map((s) => s.id).join(',')}`);
  const redis = await startRedis();
  log(`private redis-server ${redis.version} on port ${redis.port}`);
  const value = 'v'.repeat(config.valueBytes);
  const key = 'bench:k';
  await redis.admin.set(key, value);
  const ctx: BenchContext = { config, redis, token: randomBytes(16).toString('hex'), key, value, log };
  const outcomes = new Map<string, ScenarioOutcome>();
  try {
    for (const s of chosen) {
      log(`scenario ${s.id}: ${s.title}`);
      try {
        outcomes.set(s.id, await s.run(ctx, outcomes));
      } catch (err) {
        log(`scenario ${s.id} failed: ${(err as Error).stack ?? String(err)}`);
        outcomes.set(s.id, {
          id: s.id,
          title: s.title,
          rows: [],
          lines: [`n/a: ${(err as Error).message}`],
          checks: [],
        });
      }
    }
  } finally {
    await redis.stop();
  }
  const date = new Date().toISOString().slice(0, 10);
  const knobs = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const reports = [...outcomes.values()];
  const markdown = [
    `# Sluice benchmarks — ${date}${config.quick ? ' (quick run)' : ''}`,
    '',
    ...(await environment(redis.version, busyBefore)),
    `- knobs: ${knobs === '' ? 'defaults' : knobs}; ${config.repeats} interleaved repeat(s) of ${config.durationS} s (+${config.warmupS} s warm-up) per row; medians shown`,
    `- total wall time ${((Date.now() - started) / 1000).toFixed(0)} s`,
    '',
    '## Targets (issue 7)',
    '',
    ...checksTable(reports),
    '',
    ...reports.flatMap((r) => [`## ${r.id}. ${r.title}`, '', ...r.lines, '']),
  ].join('\n');
  process.stdout.write(`${markdown}\n`);
  const out = config.out ?? join(RESULTS_DIR, `${date}${config.quick ? '-quick' : ''}.md`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, markdown);
  log(`wrote ${out}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
