// Runs wrk (HTTP load from its own process) and parses its report; POST bodies go through a generated Lua script.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './proc.js';

/** One wrk run. */
export interface WrkOptions {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly threads: number;
  readonly durationS: number;
}

/** What wrk reported. Latencies in milliseconds. */
export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  readonly errors: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60000, h: 3600000 };

function toMs(value: string, unit: string): number {
  return Number(value) * (UNIT_MS[unit] ?? Number.NaN);
}

/** Parses wrk's text report (run with --latency). */
export function parseWrk(text: string): WrkResult {
  const latency = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(text);
  if (total === null) throw new Error(`wrk printed no summary: ${text.trim().slice(0, 200)}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors =
    (socket ? socket.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  const requests = Number(total[1]);
  const seconds = toMs(total[2]!, total[3]!) / 1000;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  return {
    requests,
    seconds,
    requestsPerS: rps ? Number(rps[1]) : requests / seconds,
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    errors,
  };
}

function luaString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'").replaceAll('\n', '\\n')}'`;
}

/** The Lua script that sets method, body and headers of every request. */
export function wrkScript(options: Pick<WrkOptions, 'method' | 'body' | 'headers'>): string {
  const lines = [`wrk.method = ${luaString(options.method ?? 'GET')}`];
  if (options.body !== undefined) lines.push(`wrk.body = ${luaString(options.body)}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

let scriptDir: string | undefined;

/** Runs wrk and returns its parsed report. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  scriptDir ??= mkdtempSync(join(tmpdir(), 'sluice-bench-wrk-'));
  const script = join(scriptDir, `s${Date.now()}${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(script, wrkScript(options));
  const duration = Math.max(1, Math.round(options.durationS));
  const args = [
    '--latency',
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${duration}s`,
    '--timeout',
    '5s',
    '-s',
    script,
    options.url,
  ];
  return parseWrk(await runCommand('wrk', args, (duration + 30) * 1000));
}
