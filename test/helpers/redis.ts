// A real redis-server per test file, on a free port, keeping nothing on disk. Faults come from this process.
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, redisAnswers } from '../../broker/lifecycle/private-redis.js';
import { sleep } from './time.js';

/** A redis-server child owned by one test file. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** A plain ioredis client for assertions (lazily created, closed by stop()). */
  client(): Redis;
  /** SIGSTOP / SIGCONT the server (it hangs with its sockets open). */
  pause(): void;
  resume(): void;
  /** SIGKILL the server; `restart()` starts it again on the same port. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function launch(port: number, extra: readonly string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null)
      throw new Error(`redis-server exited with ${child.exitCode} on port ${port}`);
    if (await redisAnswers('127.0.0.1', port, 200)) return child;
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${port}`);
}

/** Starts redis-server on a free port. Call `stop()` in t.teardown. */
export async function startRedis(extra: readonly string[] = []): Promise<TestRedis> {
  const port = await freePort();
  let child = await launch(port, extra);
  let client: Redis | undefined;
  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => c.once('exit', () => r()));
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get child() {
      return child;
    },
    client() {
      if (client === undefined) {
        client = new Redis({
          port,
          host: '127.0.0.1',
          maxRetriesPerRequest: 1,
          lazyConnect: false,
          enableOfflineQueue: true,
        });
        client.on('error', () => {});
      }
      return client;
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      child = await launch(port, extra);
    },
    async stop() {
      client?.disconnect();
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

/** Clients Redis reports as blocked (BLPOP and the like). */
export async function blockedClients(redis: Redis): Promise<number> {
  const info = (await redis.info('clients')) as string;
  return Number(/blocked_clients:(\d+)/.exec(info)?.[1] ?? -1);
}

/** The broker's connections in CLIENT LIST (named sluice-*), as name → count. */
export async function brokerConnections(redis: Redis, prefix = 'sluice-'): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${prefix}`)).length;
}

/** CLIENT KILLs every connection whose name starts with `prefix`; returns how many were killed. */
export async function killBrokerConnections(redis: Redis, prefix = 'sluice-main-'): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.includes(` name=${prefix}`))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await redis.client('KILL', 'ID', id);
  return ids.length;
}
