// The private redis-server of a bench run, and the INFO sampler that watches its connected_clients.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { type Service, startService } from './proc.js';

/** A redis-server started for this run only (never the machine's shared one). */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  readonly version: string;
  /** A control connection (counted in connected_clients; the sampler subtracts it). */
  readonly admin: Redis;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server --port <free> --save '' --appendonly no <extraArgs>` (e.g. `--replicaof host port`) and
 * opens one control connection.
 */
export async function startRedis(extraArgs: readonly string[] = []): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-redis-'));
  const service: Service = await startService({
    name: 'redis-server',
    command: 'redis-server',
    args: [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      ...extraArgs,
    ],
    readyLine: /Ready to accept connections/,
  });
  const admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableAutoPipelining: false });
  await admin.connect();
  const info = await admin.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    version,
    admin,
    async stop() {
      admin.disconnect();
      await service.stop();
    },
  };
}

/** Reads one numeric field of an INFO reply. */
export function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : Number.NaN;
}

/** What the sampler saw between start() and stop(). */
export interface ClientsSample {
  /** Most connected_clients seen, not counting the harness's own control connection. */
  readonly peak: number;
  /** connected_clients when sampling started (the idle pools of whatever is running). */
  readonly atStart: number;
  /** Connections Redis accepted while sampling (total_connections_received delta). */
  readonly opened: number;
}

/** Polls `INFO clients` on the control connection every `intervalMs` and keeps the peak. */
export class ClientsSampler {
  readonly #redis: Redis;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #peak = 0;
  #atStart = 0;
  #receivedAtStart = 0;
  #pending: Promise<void> = Promise.resolve();

  constructor(redis: Redis, intervalMs: number) {
    this.#redis = redis;
    this.#intervalMs = intervalMs;
  }

  async #connected(): Promise<number> {
    // minus one: the control connection asking
    return infoField(await this.#redis.info('clients'), 'connected_clients') - 1;
  }

  /** Takes a first sample and starts polling. */
  async start(): Promise<void> {
    this.#atStart = await this.#connected();
    this.#peak = this.#atStart;
    this.#receivedAtStart = infoField(await this.#redis.info('stats'), 'total_connections_received');
    this.#timer = setInterval(() => {
      this.#pending = this.#connected().then(
        (n) => {
          if (n > this.#peak) this.#peak = n;
        },
        () => undefined,
      );
    }, this.#intervalMs);
  }

  /** Stops polling and reports the peak. */
  async stop(): Promise<ClientsSample> {
    clearInterval(this.#timer);
    await this.#pending;
    const last = await this.#connected();
    const received = infoField(await this.#redis.info('stats'), 'total_connections_received');
    return {
      peak: Math.max(this.#peak, last),
      atStart: this.#atStart,
      opened: received - this.#receivedAtStart,
    };
  }
}
