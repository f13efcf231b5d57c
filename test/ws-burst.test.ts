// Many short-lived sockets: 2,000 opened, used and closed in bursts while Redis sees only the pool's connections.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { brokerConnections, startRedis } from './helpers/redis.js';
import { Peer } from './helpers/ws.js';
import { waitFor } from './helpers/time.js';

const SOCKETS = Number(process.env.WS_BURST_SOCKETS ?? 2000);
const BATCH = Number(process.env.WS_BURST_BATCH ?? 200);
const POOL_SIZE = 4;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'pool-size': POOL_SIZE } });
t.teardown(() => broker.close());

/** One function invocation: open, a write and a read, close. */
async function invocation(n: number): Promise<boolean> {
  const peer = await Peer.open(broker.url);
  try {
    const set = peer.request({ id: 1, cmd: ['SET', `burst:${n}`, String(n)] });
    const get = peer.request({ id: 2, cmd: ['GET', `burst:${n}`] });
    const [a, b] = await Promise.all([set, get]);
    return a.result === 'OK' && b.result === String(n);
  } finally {
    await peer.close();
  }
}

t.test(
  `${SOCKETS} sockets in batches of ${BATCH} stay within the pool's ${POOL_SIZE} Redis connections`,
  async (t) => {
    const client = redis.client();
    t.equal(await brokerConnections(client), POOL_SIZE);
    let ok = 0;
    let most = 0;
    const started = performance.now();
    for (let first = 0; first < SOCKETS; first += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, SOCKETS - first) }, (_, i) => invocation(first + i));
      // Sample Redis while the batch is open.
      const [results, connections] = await Promise.all([Promise.all(batch), brokerConnections(client)]);
      ok += results.filter(Boolean).length;
      most = Math.max(most, connections);
    }
    const seconds = (performance.now() - started) / 1000;
    t.equal(ok, SOCKETS, 'every invocation wrote and read its own key');
    t.ok(most <= POOL_SIZE, `at most ${most} broker connections in Redis during the burst`);
    t.equal(await brokerConnections(client), POOL_SIZE);
    t.equal(await client.dbsize(), SOCKETS);
    await waitFor(() => broker.ws.size === 0, 2000, { everyMs: 10 });
    t.equal(broker.ws.size, 0, 'every socket released on the broker');
    t.comment(
      `${SOCKETS} open → SET+GET → close in ${seconds.toFixed(2)} s: ${Math.round(SOCKETS / seconds)} sockets/s (client and broker in one process)`,
    );
  },
);
