// A real haproxy (Debian's package) in front of a broker, for tests of what a proxy forwards. Config in a temp dir.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../../broker/lifecycle/private-redis.js';
import { sleep } from './time.js';

/** The haproxy executable on PATH (Debian installs it in /usr/sbin, not on every user's PATH), or undefined. */
export function haproxyPath(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'haproxy');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** A haproxy child owned by one test. */
export interface TestHaproxy {
  /** Its frontend's port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  stop(): Promise<void>;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts haproxy in HTTP mode on 127.0.0.1 (a free port) forwarding everything to `backendUrl`; `extra` lines go
 * into its `defaults` section. Call `stop()` in t.teardown.
 */
export async function startHaproxy(backendUrl: string, extra: readonly string[] = []): Promise<TestHaproxy> {
  const haproxy = haproxyPath();
  if (haproxy === undefined) throw new Error('haproxy is not installed');
  const backend = new URL(backendUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 1000',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  timeout tunnel 30s',
      ...extra.map((line) => `  ${line}`),
      'frontend main',
      `  bind 127.0.0.1:${port}`,
      '  default_backend broker',
      'backend broker',
      `  server broker ${backend.hostname}:${backend.port}`,
      '',
    ].join('\n'),
  );
  const check = spawnSync(haproxy, ['-c', '-q', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refused its config: ${check.stderr}`);
  // -db: stay in the foreground, so the child is haproxy itself and stop() ends it.
  const child: ChildProcess = spawn(haproxy, ['-db', '-f', config], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (await answers(port)) return { port, url: `http://127.0.0.1:${port}`, stop };
    await sleep(25);
  }
  await stop();
  throw new Error(`haproxy did not listen on port ${port}`);
}
