// A second error on one Redis socket must not end the process: ioredis listens with `once` (broker/redis/redis-connection.ts).
import t from 'tap';
import { openConnection } from '../broker/redis/redis-connection.js';
import { createRedisTarget } from '../broker/redis/target.js';
import { testConfig } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

t.test('two errors on one socket: both handled, the connection comes back', async (t) => {
  const connection = openConnection({
    target: createRedisTarget(redis.url, testConfig()),
    name: 'sluice-test',
    connectTimeoutMs: 1000,
  });
  const seen: string[] = [];
  connection.on('error', (error: Error) => seen.push(error.message));
  t.teardown(() => connection.disconnect());
  await connection.connect();
  t.equal(await connection.ping(), 'PONG');
  const stream = connection.stream;
  // What a TLS socket does when an alert follows a failed handshake, or a reset follows an error.
  stream.emit('error', new Error('first'));
  stream.emit('error', new Error('second'));
  t.same(seen, ['first'], 'ioredis reports the first; the second reaches our listener, not the process');
  t.ok(await waitFor(() => connection.status === 'ready', 5000), 'reconnected');
  t.equal(await connection.ping(), 'PONG');
});
