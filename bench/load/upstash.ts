// Load generator: the real @upstash/redis SDK (default options) with N concurrent async callers doing get/set.
import { Redis as UpstashRedis } from '@upstash/redis';
import { Redis as IoRedis } from 'ioredis';
import { loadMain, Recorder } from '../lib/load-child.js';
import type { LoadResult } from '../lib/loadgen.js';

/** Arguments from the harness: `upstash` talks to a REST endpoint; `ioredis` is the same load straight to Redis. */
export type UpstashArgs = {
  readonly callers: number;
  readonly keys: number;
  readonly value: string;
  readonly warmupS: number;
  readonly durationS: number;
} & (
  | { readonly client: 'upstash'; readonly url: string; readonly token: string }
  | { readonly client: 'ioredis'; readonly port: number }
);

interface KvClient {
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  close(): void;
}

function makeClient(args: UpstashArgs): KvClient {
  if (args.client === 'upstash') {
    // defaults on purpose: auto-pipelining, retries, keep-alive exactly as a function would get them
    const redis = new UpstashRedis({ url: args.url, token: args.token });
    return {
      get: (k) => redis.get<string>(k),
      set: (k, v) => redis.set(k, v),
      close: () => undefined,
    };
  }
  const redis = new IoRedis({ host: '127.0.0.1', port: args.port, enableAutoPipelining: true });
  return { get: (k) => redis.get(k), set: (k, v) => redis.set(k, v), close: () => redis.disconnect() };
}

async function main(args: UpstashArgs): Promise<LoadResult> {
  const client = makeClient(args);
  const rec = new Recorder();
  const loop = async (caller: number): Promise<void> => {
    const key = `bench:u:${caller % args.keys}`;
    let n = 0;
    while (rec.running) {
      const start = process.hrtime.bigint();
      try {
        if (n++ % 2 === 0) await client.set(key, args.value);
        else {
          const value = await client.get(key);
          if (value !== args.value) throw new Error(`unexpected value ${JSON.stringify(value)}`);
        }
        rec.done(start);
      } catch (err) {
        rec.failed(err);
      }
    }
  };
  const loops = Array.from({ length: args.callers }, (_, i) => loop(i));
  await rec.window(args.warmupS, args.durationS);
  await Promise.all(loops);
  client.close();
  return rec.result();
}

loadMain(main);
