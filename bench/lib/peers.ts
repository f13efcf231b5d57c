// The baselines that run as servers: webdis (the C peer) and a constant Node HTTP server (the HTTP ceiling).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { peerScript, ROOT } from './paths.js';
import { freePort } from './ports.js';
import { startService } from './proc.js';

/** A running HTTP peer. */
export interface HttpPeer {
  readonly httpUrl: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Where webdis.template.json lives: `BENCH_PEERS_DIR`, else ../shared/bench-peers beside the repository. */
function templatePath(): string {
  const dir = process.env['BENCH_PEERS_DIR'] ?? resolve(ROOT, '..', 'shared', 'bench-peers');
  return join(dir, 'webdis.template.json');
}

/** Fills the template's @REDIS_PORT@, @HTTP_PORT@ and @LOGFILE@ fields. */
export function fillWebdisTemplate(
  template: string,
  redisPort: number,
  httpPort: number,
  logfile: string,
): string {
  return template
    .replaceAll('@REDIS_PORT@', String(redisPort))
    .replaceAll('@HTTP_PORT@', String(httpPort))
    .replaceAll('@LOGFILE@', logfile);
}

/** Starts `webdis <config>` on a free port against the private Redis and waits until it answers. */
export async function startWebdis(redisPort: number): Promise<HttpPeer> {
  const httpPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-webdis-'));
  const config = join(dir, 'webdis.json');
  const template = readFileSync(templatePath(), 'utf8');
  writeFileSync(config, fillWebdisTemplate(template, redisPort, httpPort, join(dir, 'webdis.log')));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const service = await startService({
    name: 'webdis',
    command: 'webdis',
    args: [config],
    probe: async () => (await fetch(`${httpUrl}/PING`)).ok,
  });
  return { httpUrl, pid: service.child.pid ?? 0, stop: () => service.stop() };
}

/** Starts the constant-reply Node HTTP server (bench/peers/constant-http.ts) as `processes` cluster workers. */
export async function startConstantHttp(
  value: string,
  processes = 1,
  tls?: { readonly cert: string; readonly key: string },
): Promise<HttpPeer> {
  const service = await startService({
    name: 'constant-http',
    command: process.execPath,
    args: [peerScript('constant-http'), value, String(processes), ...(tls ? [tls.cert, tls.key] : [])],
    readyLine: /ready http=/,
  });
  const httpUrl = /http=(\S+)/.exec(service.readyText)?.[1] ?? '';
  return { httpUrl, pid: service.child.pid ?? 0, stop: () => service.stop() };
}
