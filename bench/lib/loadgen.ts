// Runs a load generator in its own Node process (never in the broker's or the harness's event loop).
import { type ChildProcess, spawn } from 'node:child_process';
import { loadScript } from './paths.js';
import { withNofile } from './nofile.js';

/** What every Node load generator reports. Latencies in milliseconds. */
export interface LoadResult {
  /** Operations completed in the measured window (commands, requests or invocations as the scenario says). */
  readonly ops: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** The first error seen, to explain a non-zero error count. */
  readonly firstError?: string | undefined;
}

/** Messages a load generator sends to the harness. */
export type ChildMessage =
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string }
  | { type: 'progress'; data: Record<string, unknown> };

/** Hooks of one load run. */
export interface LoadHooks {
  /** Called for every progress message; may send messages back through `child.send`. */
  onProgress?(data: Record<string, unknown>, child: ChildProcess): void | Promise<void>;
  /** Open-files limit for the child (default 65536, capped by the hard limit). */
  nofile?: number;
  timeoutMs?: number;
}

/** Forks dist/bench/load/<name>.js with `args` and resolves with its result. */
export function runLoad<R>(name: string, args: unknown, hooks: LoadHooks = {}): Promise<R> {
  const { command, args: argv } = withNofile(hooks.nofile ?? 65536, process.execPath, [
    loadScript(name),
    JSON.stringify(args),
  ]);
  const child = spawn(command, argv, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-2000);
  });
  return new Promise<R>((resolveLoad, reject) => {
    let outcome: { ok: true; result: R } | { ok: false; error: Error } | undefined;
    const timer = setTimeout(() => {
      outcome ??= { ok: false, error: new Error(`load ${name} timed out`) };
      child.kill('SIGKILL');
    }, hooks.timeoutMs ?? 600000);
    child.on('message', (raw: ChildMessage) => {
      if (raw.type === 'result') outcome ??= { ok: true, result: raw.result as R };
      else if (raw.type === 'error') outcome ??= { ok: false, error: new Error(raw.message) };
      else void hooks.onProgress?.(raw.data, child);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (outcome?.ok === true) resolveLoad(outcome.result);
      else if (outcome !== undefined) reject(outcome.error);
      else
        reject(new Error(`load ${name} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
