// Quotas across SLUICE_WORKERS=2: each worker enforces its exact part (worker 0 gets ⌈q/2⌉, worker 1 ⌊q/2⌋), so a
// token never gets more than its quota from the whole broker. Odd quotas make the parts differ: were both workers to
// take the same part (or the whole), more than the quota would get through.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WebSocket } from 'ws';
import { spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { scrape, total } from './helpers/metrics.js';
import { startRedis } from './helpers/redis.js';
import { freePort } from './helpers/topology.js';
import { connect } from './helpers/ws.js';

t.setTimeout(180_000);

const QUOTA_TOKEN = 'quota-workers-token';
const redis = await startRedis();
t.teardown(() => redis.stop());
const dir = mkdtempSync(join(tmpdir(), 'sluice-quota-workers-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'tokens.json');
writeFileSync(
  file,
  JSON.stringify({
    tokens: [
      {
        token: QUOTA_TOKEN,
        name: 'workers',
        right: 'readwrite',
        quota: { requestsPerSecond: 5, burst: 5, sockets: 3 },
      },
    ],
  }),
);
const [port, adminPort] = [await freePort(), await freePort()];
const broker = await spawnBrokerProcess([
  ...['--workers', '2', '--port', String(port), '--admin-port', String(adminPort)],
  ...[
    '--redis-url',
    redis.url,
    '--token',
    TOKEN,
    '--tokens-file',
    file,
    '--log-level',
    'warn',
    '--drain-timeout-ms',
    '1000',
  ],
]);
t.teardown(() => broker.stop());
const url = `http://127.0.0.1:${port}`;

/** One request on a connection of its own, so the primary hands it to the next worker in turn. */
async function ping(token: string): Promise<number> {
  const response = await fetch(`${url}/`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, Connection: 'close' },
    body: '["PING"]',
  });
  await response.text();
  return response.status;
}

t.test(
  'requests/s: the whole broker admits at most the burst plus the rate over the time taken',
  async (t) => {
    const started = performance.now();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(await ping(QUOTA_TOKEN));
    const seconds = (performance.now() - started) / 1000;
    const admitted = statuses.filter((s) => s === 200).length;
    t.same(
      statuses.filter((s) => s !== 200 && s !== 429),
      [],
      'every answer is a 200 or a 429',
    );
    t.ok(
      admitted <= 5 + Math.floor(5 * seconds),
      `${admitted} admitted in ${seconds.toFixed(2)} s: at most burst 5 + 5/s (split 3 + 2 over the workers)`,
    );
    t.ok(admitted >= 5, `both workers admitted their part of the burst (${admitted} ≥ 5)`);
    const other = [];
    for (let i = 0; i < 10; i++) other.push(await ping(TOKEN));
    t.same(other, Array(10).fill(200), 'a token without a quota is not held back');
  },
);

t.test('sockets: at most the quota over both workers', async (t) => {
  const open: WebSocket[] = [];
  let refused = 0;
  for (let i = 0; i < 12; i++) {
    const attempt = await connect(url, { token: QUOTA_TOKEN });
    if (attempt instanceof WebSocket) open.push(attempt);
    else {
      t.match(attempt, { status: 429, body: { code: 'SLUICE_ERR_QUOTA_SOCKETS' } });
      refused++;
    }
  }
  t.teardown(() => {
    for (const ws of open) ws.close();
  });
  t.ok(open.length <= 3, `${open.length} sockets open: no more than the quota of 3 (2 + 1)`);
  t.ok(open.length >= 2, 'each worker took its part');
  t.equal(open.length + refused, 12);
  const samples = await scrape(`http://127.0.0.1:${adminPort}`);
  t.equal(
    total(samples, 'sluice_quota_refusals_total', { kind: 'sockets' }),
    refused,
    'the primary /metrics sums the refusals of both workers',
  );
});
