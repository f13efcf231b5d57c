// Where the harness finds the compiled broker, its own child scripts and the results folder.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root (this file runs from dist/bench/lib/). */
export const ROOT = resolve(here, '..', '..', '..');

/** Compiled bench folder (dist/bench). */
export const DIST_BENCH = resolve(here, '..');

/** Folder of committed result files. */
export const RESULTS_DIR = resolve(ROOT, 'bench', 'results');

/** The broker entry point; `BENCH_BROKER_MAIN` points the harness at another build (base vs branch). */
export function brokerMain(): string {
  return process.env['BENCH_BROKER_MAIN'] ?? resolve(ROOT, 'dist', 'broker', 'main.js');
}

/** Path of a compiled load-generator script under dist/bench/load/. */
export function loadScript(name: string): string {
  return resolve(DIST_BENCH, 'load', `${name}.js`);
}

/** Path of a compiled peer server script under dist/bench/peers/. */
export function peerScript(name: string): string {
  return resolve(DIST_BENCH, 'peers', `${name}.js`);
}
