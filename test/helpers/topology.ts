// Real redis-server processes for the topology tests: TLS servers with a throw-away CA, Sentinel sets, clusters.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort, redisAnswers } from '../../broker/lifecycle/private-redis.js';
import { sleep } from './time.js';

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** One redis-server (or Sentinel) child process on a known port. */
export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** SIGKILL and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `redis-server args…` and waits until `ready()` (default: a plain PING on `port`) says yes, up to 10 s.
 */
export async function spawnServer(
  args: readonly string[],
  port: number,
  ready: () => Promise<boolean> = () => redisAnswers('127.0.0.1', port, 200),
): Promise<ServerProcess> {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  };
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null)
      throw new Error(`redis-server ${args.join(' ')} exited with ${child.exitCode}`);
    if (await ready()) return { port, child, stop };
    await sleep(25);
  }
  await stop();
  throw new Error(`redis-server did not become ready on port ${port}`);
}

/** The arguments every test server shares: loopback, nothing on disk. */
export function baseArgs(port: number): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
}

/** PEM files of a throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate. */
export interface TestCertificates {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** openssl's arguments for a new P-256 key without a passphrase (fast to make). */
export const EC_KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'] as const;

/** Runs openssl in `dir`, quietly; throws if it fails. */
export function opensslIn(dir: string): (...args: string[]) => void {
  return (...args) => {
    execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  };
}

/** Generates the certificates with openssl (P-256 keys: fast to make) into `dir`. */
export function makeCertificates(dir: string): TestCertificates {
  const file = (name: string) => join(dir, name);
  const openssl = opensslIn(dir);
  openssl(
    'req',
    '-x509',
    ...EC_KEY_ARGS,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=sluice-test-ca',
  );
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(
      'req',
      ...EC_KEY_ARGS,
      '-keyout',
      file(`${who}.key`),
      '-out',
      file(`${who}.csr`),
      '-subj',
      `/CN=${who === 'server' ? 'localhost' : 'sluice-test-client'}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      file(`${who}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file(`${who}.crt`),
      '-days',
      '2',
      '-extfile',
      file(`${who}.ext`),
    );
  }
  return {
    ca: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
  };
}

/** Whether an ioredis client built from `options` gets PONG (used as a readiness probe for TLS/ACL servers). */
export async function pings(options: RedisOptions): Promise<boolean> {
  const client = new Redis({
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 500,
    ...options,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export { freePort };
