import t from 'tap';
import { spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { scrape, value } from './helpers/metrics.js';
import { startRedis } from './helpers/redis.js';
import { freePort } from './helpers/topology.js';

t.test('with SLUICE_WORKERS=2 the primary /metrics aggregates both workers', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const [port, adminPort] = [await freePort(), await freePort()];
  const broker = await spawnBrokerProcess([
    ...['--workers', '2', '--port', String(port), '--admin-port', String(adminPort)],
    ...['--redis-url', redis.url, '--token', TOKEN, '--log-level', 'warn', '--pool-size', '2'],
  ]);
  t.teardown(() => broker.stop());
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, Connection: 'close' },
      body: '["incr","n"]',
    });
    t.equal(response.status, 200);
    await response.text();
  }
  const s = await scrape(`http://127.0.0.1:${adminPort}`);
  t.equal(
    value(s, 'sluice_commands_total', { command: 'incr', outcome: 'ok' }),
    20,
    'counts summed over workers',
  );
  t.equal(value(s, 'sluice_http_requests_total', { route: 'single', status: '200' }), 20);
  t.equal(
    value(s, 'sluice_pool_connections', { pool: 'main', state: 'ready', tenant: 'default' }),
    4,
    '2 workers × pool size 2',
  );
  t.equal(value(s, 'sluice_redis_up'), 1, 'min over workers');
  t.ok(s.has('sluice_nodejs_eventloop_lag_seconds'));
});
