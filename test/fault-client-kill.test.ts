// CLIENT KILL on the pool's connections while INCRs run: each acknowledged INCR counted once, nothing re-sent.
import t from 'tap';
import { startTestBroker } from './helpers/broker.js';
import { call, keepAliveAgent } from './helpers/load.js';
import { killBrokerConnections, startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const CLIENTS = 60;
const PIPELINE = 10;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'pool-size': 4 } });
t.teardown(() => broker.close());
const agent = keepAliveAgent(CLIENTS + 8);
t.teardown(() => agent.destroy());

t.test('INCR under CLIENT KILL: counted exactly once per acknowledged success', async (t) => {
  let sent = 0;
  let acknowledged = 0;
  /** Written, then the connection died (502) or no reply came (504): may or may not have run. */
  let unknown = 0;
  /** Refused before writing (503): must not have run. */
  let notSent = 0;
  const codes: Record<string, number> = {};
  const count = (code: string) => {
    codes[code] = (codes[code] ?? 0) + 1;
  };
  const judge = (item: { result?: unknown; error?: unknown; code?: unknown } | undefined, status: number) => {
    if (item && 'result' in item && status === 200) return void acknowledged++;
    const code = typeof item?.code === 'string' ? item.code : `status ${status}`;
    count(code);
    if (code === 'SLUICE_ERR_REDIS_CONNECTION_LOST' || code === 'SLUICE_ERR_REDIS_TIMEOUT') unknown++;
    else if (code === 'SLUICE_ERR_REDIS_UNAVAILABLE') notSent++;
  };

  let running = true;
  const worker = async (id: number) => {
    while (running) {
      if (id % 2 === 0) {
        sent++;
        const r = await call(broker.url, '/', ['incr', 'counter'], { agent });
        judge(r.body as never, r.status);
      } else {
        sent += PIPELINE;
        const r = await call(
          broker.url,
          '/pipeline',
          Array.from({ length: PIPELINE }, () => ['incr', 'counter']),
          { agent },
        );
        if (r.status === 200 && Array.isArray(r.body)) for (const item of r.body) judge(item, 200);
        else for (let i = 0; i < PIPELINE; i++) judge(r.body as never, r.status);
      }
    }
  };
  const workers = Array.from({ length: CLIENTS }, (_, id) => worker(id));
  let kills = 0;
  for (let round = 0; round < 6; round++) {
    await sleep(400);
    kills += await killBrokerConnections(redis.client());
  }
  await sleep(600);
  running = false;
  await Promise.all(workers);

  const final = Number(await redis.client().get('counter'));
  t.comment(
    `sent ${sent}, acknowledged ${acknowledged}, unknown outcome ${unknown}, not sent ${notSent}, counter ${final}, ` +
      `connections killed ${kills}; errors ${JSON.stringify(codes)}`,
  );
  t.ok(kills >= 6, 'connections were killed');
  t.ok(unknown + notSent > 0, 'the kills hit requests in flight');
  t.same(
    Object.keys(codes).filter(
      (c) => c !== 'SLUICE_ERR_REDIS_CONNECTION_LOST' && c !== 'SLUICE_ERR_REDIS_UNAVAILABLE',
    ),
    [],
    'errors are CONNECTION_LOST (502) or REDIS_UNAVAILABLE (503) only',
  );
  t.ok(final >= acknowledged, 'every acknowledged INCR is counted');
  t.ok(
    final <= acknowledged + unknown,
    'no INCR ran beyond acknowledged + unknown-outcome (nothing re-sent)',
  );
  t.ok(final <= sent - notSent, 'commands refused as not sent never ran');
  t.ok(final <= sent, 'never more than sent');
});
