// One redis-server, one broker and two @upstash/redis clients (default options, and auto-pipelining off) per test file.
import { Redis } from '@upstash/redis';
import type { Broker } from '../../broker/lifecycle/broker.js';
import { TOKEN, startTestBroker } from './broker.js';
import { startRedis, type TestRedis } from './redis.js';

export interface SdkSetup {
  readonly server: TestRedis;
  readonly broker: Broker;
  /** The SDK as users run it: auto-pipelining and base64 on. */
  readonly redis: Redis;
  /** The SDK with auto-pipelining off (single commands go to POST /). */
  readonly plain: Redis;
}

/** Starts everything; `teardown` is the test file's `t.teardown`. */
export async function startSdk(teardown: (fn: () => unknown) => void): Promise<SdkSetup> {
  const server = await startRedis();
  teardown(() => server.stop());
  const broker = await startTestBroker(server.url);
  teardown(() => broker.close());
  const options = { url: broker.url, token: TOKEN, enableTelemetry: false };
  return {
    server,
    broker,
    redis: new Redis(options),
    plain: new Redis({ ...options, enableAutoPipelining: false }),
  };
}
