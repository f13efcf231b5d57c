// Load generator, the floor: one auto-pipelined ioredis client straight to Redis, callers × window GETs in flight.
import { Redis } from 'ioredis';
import { loadMain, Recorder } from '../lib/load-child.js';
import type { LoadResult } from '../lib/loadgen.js';

/** Arguments from the harness. */
export interface IoredisThroughputArgs {
  readonly port: number;
  /** Callers (the WS scenario's sockets) … */
  readonly callers: number;
  /** … each with this many GETs in flight. */
  readonly window: number;
  readonly key: string;
  readonly value: string;
  readonly warmupS: number;
  readonly durationS: number;
}

async function main(args: IoredisThroughputArgs): Promise<LoadResult> {
  const redis = new Redis({
    host: '127.0.0.1',
    port: args.port,
    enableAutoPipelining: true,
    lazyConnect: true,
  });
  await redis.connect();
  const rec = new Recorder();
  const loop = async (): Promise<void> => {
    while (rec.running) {
      const start = process.hrtime.bigint();
      try {
        const value = await redis.get(args.key);
        if (value === args.value) rec.done(start);
        else rec.failed(new Error(`unexpected value ${value}`));
      } catch (err) {
        rec.failed(err);
      }
    }
  };
  const loops = Array.from({ length: args.callers * args.window }, loop);
  await rec.window(args.warmupS, args.durationS);
  await Promise.all(loops);
  redis.disconnect();
  return rec.result();
}

loadMain(main);
