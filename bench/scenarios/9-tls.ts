// Scenario 9: TLS — Sluice's own HTTPS against nginx terminating TLS in front of plain Sluice, on keep-alive
// connections (scenario 1 over TLS) and in a connection storm (scenario 5 over TLS), with and without resumption.
import { readFileSync } from 'node:fs';
import { cpuWindow, type SluiceRunning, fromLoad, setupSluice, singleRequest } from '../lib/contenders.js';
import { startConstantHttp } from '../lib/peers.js';
import type { StormTarget } from '../load/storm.js';
import { type LoadResult, runLoad } from '../lib/loadgen.js';
import type { HttpPeer } from '../lib/peers.js';
import { cpuSeconds } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import {
  type BenchContext,
  contender,
  type Measurement,
  type RowResult,
  type Running,
  runContenders,
} from '../lib/rows.js';
import type { Scenario } from '../lib/scenario.js';
import { type Check, check, fmtMs, fmtRatio, standardTable } from '../lib/table.js';
import { type BenchCertificates, httpsPost, makeBenchCertificates, startNginxTls } from '../lib/tls.js';
import { runWrk } from '../lib/wrk.js';

const OWN = 'Sluice HTTPS (1 worker)';
/** As many processes as the nginx row: one nginx worker and one broker. */
const OWN_2W = 'Sluice HTTPS (2 workers)';
const NGINX = 'nginx TLS (1 worker) → Sluice HTTP (1 worker)';
const PLAIN = 'Sluice plain HTTP (1 worker), for reference';
const STORM_OWN = 'Sluice HTTPS, full handshake each';
/** As many processes as the nginx rows, as for keep-alive. */
const STORM_OWN_2W = 'Sluice HTTPS (2 workers), full handshake each';
const STORM_OWN_RESUMED = 'Sluice HTTPS, resumed sessions';
const STORM_NGINX = 'nginx TLS → Sluice, full handshake each';
const STORM_NGINX_RESUMED = 'nginx TLS → Sluice, resumed sessions';
/** Node's own TLS with nothing behind it: the floor of what any node:https server pays per connection. */
const STORM_CONSTANT = 'constant node:https reply (1 process), full handshake each, for reference';

/** Whatever serves a storm: its URL and the processes whose CPU it costs. */
interface ConstantRunning extends Running {
  readonly url: string;
  readonly pids: readonly number[];
}

/** Sluice and, for the nginx rows, nginx in front of it. */
interface TlsRunning extends SluiceRunning {
  readonly url: string;
  readonly pids: readonly number[];
  readonly nginx?: HttpPeer;
}

async function setupOwn(ctx: BenchContext, certs: BenchCertificates, workers = 1): Promise<TlsRunning> {
  const sluice = await setupSluice(ctx, {
    workers,
    env: { SLUICE_TLS_CERT_FILE: certs.cert, SLUICE_TLS_KEY_FILE: certs.key },
  });
  // The primary and its workers (cpuSeconds counts a process's descendants too).
  return { ...sluice, url: sluice.broker.httpUrl, pids: [sluice.broker.pid] };
}

async function setupNginx(ctx: BenchContext, certs: BenchCertificates): Promise<TlsRunning> {
  const sluice = await setupSluice(ctx, { workers: 1 });
  let nginx: HttpPeer;
  try {
    nginx = await startNginxTls(sluice.broker.httpUrl, certs);
  } catch (error) {
    await sluice.stop();
    throw error;
  }
  return {
    broker: sluice.broker,
    url: nginx.httpUrl,
    pids: [nginx.pid, sluice.broker.pid],
    nginx,
    stop: async () => {
      await nginx.stop();
      await sluice.stop();
    },
  };
}

/** The constant-reply Node server over node:https (no broker, no Redis). */
async function setupConstantTls(ctx: BenchContext, certs: BenchCertificates): Promise<ConstantRunning> {
  const peer = await startConstantHttp(ctx.value, 1, { cert: certs.cert, key: certs.key });
  return { url: peer.httpUrl, pids: [peer.pid], stop: () => peer.stop() };
}

async function setupPlain(ctx: BenchContext): Promise<TlsRunning> {
  const sluice = await setupSluice(ctx, { workers: 1 });
  return { ...sluice, url: sluice.broker.httpUrl, pids: [sluice.broker.pid] };
}

/** wrk on `POST /` (a warm-up run first), with the CPU of every process serving it (nginx and broker) per request. */
async function keepAlive(ctx: BenchContext, running: TlsRunning, ca: Buffer): Promise<Measurement> {
  const { body, headers } = singleRequest(ctx);
  const url = `${running.url}/`;
  const check = url.startsWith('https:')
    ? await httpsPost(url, body, headers, ca)
    : await fetch(url, { method: 'POST', body, headers }).then(async (r) => ({
        status: r.status,
        text: await r.text(),
      }));
  if (check.status !== 200 || !check.text.includes(ctx.value))
    throw new Error(`POST / answered ${check.status} ${check.text.slice(0, 120)}`);
  const base = {
    url,
    method: 'POST' as const,
    body,
    headers,
    connections: ctx.config.connections,
    threads: ctx.config.wrkThreads,
  };
  if (ctx.config.warmupS >= 0.5) await runWrk({ ...base, durationS: ctx.config.warmupS });
  const cpu = () => running.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const before = cpu();
  const result = await runWrk({ ...base, durationS: ctx.config.durationS });
  const used = cpu() - before;
  return {
    throughput: result.requestsPerS,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    errors: result.errors,
    firstError: result.errors > 0 ? 'wrk counted socket errors or non-2xx responses' : undefined,
    cpuMicrosPerOp: (used * 1e6) / result.requests,
  };
}

/** `sluice_tls_handshakes_total` by session from a /metrics text. */
function handshakes(text: string | undefined): { full: number; resumed: number } {
  const read = (session: string) =>
    Number(
      new RegExp(`^sluice_tls_handshakes_total\\{session="${session}"\\} (\\S+)$`, 'm').exec(
        text ?? '',
      )?.[1] ?? Number.NaN,
    );
  return { full: read('new'), resumed: read('resumed') };
}

export const scenario: Scenario = {
  id: '9',
  title: 'TLS: Sluice HTTPS vs nginx terminating TLS in front of Sluice',
  async run(ctx) {
    const { config } = ctx;
    const certs = makeBenchCertificates();
    const ca = readFileSync(certs.ca);
    const keepAliveRows = await runContenders(ctx, [
      contender<TlsRunning>({
        name: OWN,
        setup: () => setupOwn(ctx, certs),
        measure: (r) => keepAlive(ctx, r, ca),
      }),
      contender<TlsRunning>({
        name: OWN_2W,
        setup: () => setupOwn(ctx, certs, 2),
        measure: (r) => keepAlive(ctx, r, ca),
      }),
      contender<TlsRunning>({
        name: NGINX,
        setup: () => setupNginx(ctx, certs),
        measure: (r) => keepAlive(ctx, r, ca),
      }),
      contender<TlsRunning>({
        name: PLAIN,
        setup: () => setupPlain(ctx),
        measure: (r) => keepAlive(ctx, r, ca),
      }),
    ]);
    const storm = {
      total: config.stormTotal,
      concurrency: config.stormConcurrency,
      key: ctx.key,
      value: ctx.value,
    };
    const resumedShare = new Map<string, string>();
    /**
     * CPU µs per invocation of each storm run of each row: of the serving processes (not only the broker's: nginx's
     * too, so not the rows' "broker CPU") and of the load generator.
     */
    const stormCpu = new Map<string, { server: number[]; generator: number[] }>();
    // As scenario 5: an unrecorded warm-up from another process, then the measured storm from a cold one.
    const stormOf = async (
      name: string,
      running: TlsRunning | ConstantRunning,
      resume: boolean,
    ): Promise<Measurement> => {
      const target: StormTarget = {
        kind: 'https',
        url: running.url,
        token: ctx.token,
        caFile: certs.ca,
        resume,
      };
      if (config.stormWarmup > 0)
        await runLoad<LoadResult>('storm', { ...storm, ...target, total: config.stormWarmup });
      // Sluice's own TLS: its handshake counts say how many sessions resumed.
      const broker = 'nginx' in running || !('broker' in running) ? undefined : running.broker;
      const before = broker ? handshakes(await broker.metrics()) : undefined;
      const cpu = cpuWindow(running.pids);
      const loaded = await runLoad<LoadResult>('storm', { ...storm, ...target }, cpu.hooks);
      const result = fromLoad(loaded);
      const runs = stormCpu.get(name) ?? { server: [], generator: [] };
      runs.server.push(cpu.microsPerOp(loaded.ops));
      runs.generator.push(cpu.generatorMicrosPerOp(loaded.ops));
      stormCpu.set(name, runs);
      if (broker && before) {
        const after = handshakes(await broker.metrics());
        const resumed = after.resumed - before.resumed;
        const all = resumed + after.full - before.full;
        resumedShare.set(name, `${resumed} of ${all} handshakes resumed`);
      }
      return result;
    };
    const stormRows = await runContenders(ctx, [
      contender<TlsRunning>({
        name: STORM_OWN,
        setup: () => setupOwn(ctx, certs),
        measure: (r) => stormOf(STORM_OWN, r, false),
      }),
      contender<TlsRunning>({
        name: STORM_OWN_2W,
        setup: () => setupOwn(ctx, certs, 2),
        measure: (r) => stormOf(STORM_OWN_2W, r, false),
      }),
      contender<TlsRunning>({
        name: STORM_OWN_RESUMED,
        setup: () => setupOwn(ctx, certs),
        measure: (r) => stormOf(STORM_OWN_RESUMED, r, true),
      }),
      contender<TlsRunning>({
        name: STORM_NGINX,
        setup: () => setupNginx(ctx, certs),
        measure: (r) => stormOf(STORM_NGINX, r, false),
      }),
      contender<TlsRunning>({
        name: STORM_NGINX_RESUMED,
        setup: () => setupNginx(ctx, certs),
        measure: (r) => stormOf(STORM_NGINX_RESUMED, r, true),
      }),
      contender<ConstantRunning>({
        name: STORM_CONSTANT,
        setup: () => setupConstantTls(ctx, certs),
        measure: (r) => stormOf(STORM_CONSTANT, r, false),
      }),
    ]);
    const cpuNotes = new Map(
      keepAliveRows.map((r) => [
        r.name,
        `CPU of the serving processes: ${r.cpuMicrosPerOp.toFixed(1)} µs/req`,
      ]),
    );
    const stormNotes = new Map(
      stormRows.map((r) => [
        r.name,
        [
          resumedShare.get(r.name),
          `CPU per invocation: serving processes ${median(stormCpu.get(r.name)?.server ?? []).toFixed(0)} µs, load generator ${median(stormCpu.get(r.name)?.generator ?? []).toFixed(0)} µs`,
        ]
          .filter((x) => x !== undefined)
          .join('; '),
      ]),
    );
    return {
      id: this.id,
      title: this.title,
      rows: [...keepAliveRows, ...stormRows],
      lines: [
        `Certificates: a P-256 (ECDSA) server certificate from a throw-away CA; TLS 1.3 negotiated. nginx ${'1.22'} with one worker, HTTP/1.1 keep-alive to the broker.`,
        '',
        `**Keep-alive** (scenario 1 over TLS): wrk, ${config.connections} connections, ${config.wrkThreads} thread(s); medians of ${config.repeats} interleaved run(s) of ${config.durationS} s.`,
        '',
        ...standardTable(keepAliveRows, { unit: 'req/s', ratioTo: NGINX, notes: cpuNotes }),
        '',
        `**Connection storm** (scenario 5 over TLS): ${config.stormTotal} invocations, ${config.stormConcurrency} at a time, a new TLS connection each (\`Connection: close\`), after ${config.stormWarmup} unrecorded ones; "resumed": each offers the session ticket the previous one got.`,
        '',
        ...standardTable(stormRows, { unit: 'inv/s', ratioTo: STORM_NGINX, notes: stormNotes }),
        '',
        'CPU per invocation: user + system time over the measured storm of the serving processes (for the nginx rows nginx and the broker behind it) and of the load generator, which does the client side of every handshake on the same cores. The constant node:https row is the floor of any server on node:tls: a full handshake per connection there costs what it costs Sluice before Sluice does anything.',
      ],
      checks: tlsChecks(keepAliveRows, stormRows),
    };
  },
};

function tlsChecks(keepAliveRows: readonly RowResult[], stormRows: readonly RowResult[]): Check[] {
  const get = (rows: readonly RowResult[], name: string) => rows.find((r) => r.name === name);
  const ratio = (a?: RowResult, b?: RowResult) =>
    (a?.throughput ?? Number.NaN) / (b?.throughput ?? Number.NaN);
  const nginx = get(keepAliveRows, NGINX);
  // The same number of processes on both sides: nginx's worker and the broker behind it, or two broker workers.
  const keepAliveRatio = ratio(get(keepAliveRows, OWN_2W), nginx);
  const oneWorkerRatio = ratio(get(keepAliveRows, OWN), nginx);
  const stormRatio = ratio(get(stormRows, STORM_OWN_2W), get(stormRows, STORM_NGINX));
  const stormOneWorkerRatio = ratio(get(stormRows, STORM_OWN), get(stormRows, STORM_NGINX));
  const full = get(stormRows, STORM_OWN);
  const resumed = get(stormRows, STORM_OWN_RESUMED);
  return [
    check(
      'TLS keep-alive: Sluice HTTPS, 2 workers ≥ 1.0× nginx (1 worker) → Sluice (1 worker)',
      keepAliveRatio,
      (v) => v >= 1,
      `${fmtRatio(keepAliveRatio)} (1 worker: ${fmtRatio(oneWorkerRatio)})`,
    ),
    check(
      'TLS storm, full handshakes: Sluice HTTPS, 2 workers ≥ 1.0× nginx (1 worker) → Sluice (inv/s)',
      stormRatio,
      (v) => v >= 1,
      `${fmtRatio(stormRatio)} (1 worker: ${fmtRatio(stormOneWorkerRatio)})`,
    ),
    check(
      'TLS storm: p99 with resumption below p99 without',
      (resumed?.p99Ms ?? Number.NaN) - (full?.p99Ms ?? Number.NaN),
      (v) => v < 0,
      `${fmtMs(resumed?.p99Ms ?? Number.NaN)} vs ${fmtMs(full?.p99Ms ?? Number.NaN)} ms`,
    ),
  ];
}
