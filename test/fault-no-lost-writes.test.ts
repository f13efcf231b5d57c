// 50,000 SETs with unique keys from 100 clients, Redis connections killed twice: every acknowledged key is stored.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { call, keepAliveAgent } from './helpers/load.js';
import { killBrokerConnections, startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const CLIENTS = 100;
const KEYS = 50_000;
const BATCH = 25;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'pool-size': 4 } });
t.teardown(() => broker.close());
const agent = keepAliveAgent(CLIENTS + 8);
t.teardown(() => agent.destroy());

t.test('50,000 SETs with CLIENT KILL twice: every acknowledged key present with its value', async (t) => {
  const acknowledged: string[] = [];
  const errors: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < KEYS) {
      const first = next;
      next = Math.min(KEYS, next + BATCH);
      const keys = Array.from({ length: next - first }, (_, i) => `w:${first + i}`);
      const r = await call(
        broker.url,
        '/pipeline',
        keys.map((k) => ['set', k, `value-of-${k}`]),
        { agent, hangMs: 20_000 },
      );
      if (r.status === 200 && Array.isArray(r.body)) {
        r.body.forEach((item: { result?: unknown; code?: string }, i) => {
          if (item.result === 'OK') acknowledged.push(keys[i]!);
          else errors[item.code ?? 'unknown'] = (errors[item.code ?? 'unknown'] ?? 0) + 1;
        });
      } else {
        const code = (r.body as { code?: string } | undefined)?.code ?? `status ${r.status} ${r.error ?? ''}`;
        errors[code] = (errors[code] ?? 0) + keys.length;
      }
    }
  };
  const started = performance.now();
  const workers = Array.from({ length: CLIENTS }, worker);
  let killed = 0;
  for (const fraction of [1 / 3, 2 / 3]) {
    while (next < KEYS * fraction) await sleep(5);
    killed += await killBrokerConnections(redis.client());
  }
  await Promise.all(workers);
  const seconds = (performance.now() - started) / 1000;

  t.comment(
    `${acknowledged.length} of ${KEYS} acknowledged in ${seconds.toFixed(1)} s; killed ${killed} connections; errors ${JSON.stringify(errors)}`,
  );
  t.ok(killed >= 2, 'connections were killed twice');
  t.ok(acknowledged.length > KEYS * 0.5, 'most writes were acknowledged');
  t.same(
    Object.keys(errors).filter(
      (c) => c !== 'SLUICE_ERR_REDIS_CONNECTION_LOST' && c !== 'SLUICE_ERR_REDIS_UNAVAILABLE',
    ),
    [],
    'failures are only CONNECTION_LOST or REDIS_UNAVAILABLE',
  );
  let missing = 0;
  const direct = redis.client();
  for (let i = 0; i < acknowledged.length; i += 1000) {
    const keys = acknowledged.slice(i, i + 1000);
    const values = await direct.mget(...keys);
    keys.forEach((k, j) => {
      if (values[j] !== `value-of-${k}`) missing++;
    });
  }
  t.equal(missing, 0, 'every acknowledged key is present with its value');
});
