import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { post, READONLY_TOKEN, startTestBroker, TOKEN } from './helpers/broker.js';
import { scrape, total, value } from './helpers/metrics.js';
import { startRedis } from './helpers/redis.js';
import { freePort } from './helpers/topology.js';
import { sleep } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

/** Sends `count` requests over a few keep-alive connections, `concurrency` at a time. */
async function hammer(
  url: string,
  count: number,
  concurrency: number,
  make: (i: number) => { method: string; path: string; body?: string },
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const { hostname, port } = new URL(url);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const { method, path, body } = make(next++);
      await new Promise<void>((resolve, reject) => {
        const req = request(
          { agent, hostname, port, method, path, headers: { Authorization: `Bearer ${TOKEN}` } },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
}

t.test('exact counts after known traffic', async (t) => {
  const broker = await startTestBroker(redis.url);
  t.teardown(() => broker.close());
  for (let i = 0; i < 5; i++) t.equal((await post(broker.url, '/', ['set', 'k', 'v'])).status, 200);
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${broker.url}/get/k`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    t.equal(response.status, 200);
    await response.text();
  }
  for (let i = 0; i < 2; i++) {
    const response = await post(broker.url, '/pipeline', [
      ['incr', 'n'],
      ['get', 'k'],
      ['select', '1'],
    ]);
    t.equal(response.status, 200);
  }
  t.equal(
    (
      await post(broker.url, '/multi-exec', [
        ['set', 'a', '1'],
        ['get', 'a'],
      ])
    ).status,
    200,
  );
  t.equal((await post(broker.url, '/', ['get', 'k'], { Authorization: 'Bearer wrong' })).status, 401);
  const noperm = await post(broker.url, '/', ['set', 'k', 'v'], {
    Authorization: `Bearer ${READONLY_TOKEN}`,
  });
  t.match(noperm.body, { code: 'SLUICE_ERR_AUTH_NOPERM' });
  t.equal((await post(broker.url, '/', ['frobnicate', 'x'])).status, 400);
  t.match((await post(broker.url, '/', '["get",')).body, { code: 'SLUICE_ERR_REQUEST_BAD_JSON' });
  const wrongMethod = await fetch(`${broker.url}/pipeline`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  t.equal(wrongMethod.status, 405);
  await wrongMethod.text();

  const s = await scrape(broker.adminUrl);
  const http = (route: string, status: string) => value(s, 'sluice_http_requests_total', { route, status });
  t.equal(http('single', '200'), 5);
  t.equal(http('path', '200'), 3);
  t.equal(http('pipeline', '200'), 2);
  t.equal(http('multi-exec', '200'), 1);
  t.equal(http('single', '401'), 1);
  t.equal(http('single', '400'), 3, 'noperm, unknown command, bad JSON');
  t.equal(http('pipeline', '405'), 1);
  t.equal(total(s, 'sluice_http_requests_total'), 16);

  const commands = (command: string, outcome: string) =>
    value(s, 'sluice_commands_total', { command, outcome });
  t.equal(commands('set', 'ok'), 6, '5 single + 1 inside multi-exec');
  t.equal(commands('get', 'ok'), 6, '3 path + 2 pipeline + 1 multi-exec');
  t.equal(commands('incr', 'ok'), 2);
  t.equal(commands('multi', 'ok'), 1);
  t.equal(commands('exec', 'ok'), 1);
  t.equal(commands('other', 'redis_error'), 1, 'an unknown command is labelled other');
  t.equal(total(s, 'sluice_commands_total'), 17);
  for (const command of ['set', 'get', 'incr', 'multi', 'exec', 'other'])
    t.equal(
      value(s, 'sluice_command_duration_seconds_count', { command }),
      total(s, 'sluice_commands_total', { command }),
      `duration count of ${command} matches its outcomes`,
    );

  const refusals = (reason: string) => value(s, 'sluice_refusals_total', { reason });
  t.equal(refusals('command_refused'), 2, 'SELECT inside each pipeline');
  t.equal(refusals('auth'), 1);
  t.equal(refusals('noperm'), 1);
  t.equal(refusals('bad_request'), 2, 'bad JSON and wrong method');
  t.equal(total(s, 'sluice_refusals_total'), 6);

  // Sequential requests: one pipelined write each; the sum is every command sent.
  t.equal(value(s, 'sluice_batch_commands_count'), 12);
  t.equal(value(s, 'sluice_batch_commands_sum'), 17);
  t.equal(value(s, 'sluice_batch_commands_bucket', { le: '+Inf' }), 12);

  t.equal(value(s, 'sluice_redis_up'), 1);
  t.equal(
    value(s, 'sluice_pool_connections', { pool: 'main', state: 'ready', tenant: 'default' }),
    broker.config.poolSize,
  );
  t.equal(
    value(s, 'sluice_pool_max_connections', { pool: 'main', tenant: 'default' }),
    broker.config.poolSize,
  );
  t.equal(value(s, 'sluice_queue_length'), 0);
  t.ok(s.has('sluice_nodejs_eventloop_lag_seconds'), 'default process metrics carry the sluice_ prefix');
  t.ok(s.has('sluice_process_cpu_seconds_total'));
});

t.test('batching shows as sum/count under concurrent load', async (t) => {
  const broker = await startTestBroker(redis.url);
  t.teardown(() => broker.close());
  const requests = 2000;
  await hammer(broker.url, requests, 64, (i) => ({
    method: 'POST',
    path: '/',
    body: `["incr","c${i % 10}"]`,
  }));
  const s = await scrape(broker.adminUrl);
  const sum = value(s, 'sluice_batch_commands_sum');
  const count = value(s, 'sluice_batch_commands_count');
  t.equal(sum, requests, 'every command counted once');
  t.ok(count > 0 && count <= sum);
  t.comment(`mean batch size under 64 concurrent requests: ${(sum / count).toFixed(2)} (${count} writes)`);
  t.equal(value(s, 'sluice_commands_total', { command: 'incr', outcome: 'ok' }), requests);
  t.equal(value(s, 'sluice_http_requests_total', { route: 'single', status: '200' }), requests);
});

t.test('cardinality stays bounded under random command names and paths', async (t) => {
  const broker = await startTestBroker(redis.url);
  t.teardown(() => broker.close());
  const random = () => Math.random().toString(36).slice(2, 10);
  const traffic = (i: number) =>
    i % 2 === 0
      ? { method: 'POST', path: '/', body: JSON.stringify([`cmd_${random()}`, random()]) }
      : { method: 'GET', path: `/${random()}/${random()}/${random()}` };
  const sluiceSeries = (keys: Iterable<string>) =>
    [...keys].filter((k) => !k.startsWith('sluice_process_') && !k.startsWith('sluice_nodejs_'));
  await hammer(broker.url, 20, 4, traffic); // every label value these requests can produce now exists
  const before = await scrape(broker.adminUrl);
  await hammer(broker.url, 10_000, 16, traffic);
  const after = await scrape(broker.adminUrl);
  t.same(sluiceSeries(after.keys()), sluiceSeries(before.keys()), 'no new sluice series');
  // prom-client's own families may add a few bounded series (a new GC kind, a heap space); never one per request.
  const added = [...after.keys()].filter((k) => !before.has(k));
  const families = new Set(added.map((k) => k.replace(/(_bucket|_sum|_count)?\{.*$/, '')));
  t.ok(
    added.length <= 40,
    `series ${before.size} → ${after.size}; new ones in: ${[...families].join(' ') || 'none'}`,
  );
  t.equal(value(after, 'sluice_commands_total', { command: 'other', outcome: 'redis_error' }), 10_020);
  t.equal(value(after, 'sluice_http_requests_total', { route: 'path', status: '400' }), 5_010);
});

t.test('scrape-time gauges: queue, oldest wait, in-flight, Redis up and reconnects', async (t) => {
  const own = await startRedis();
  t.teardown(() => own.stop());
  const broker = await startTestBroker(own.url, {
    flags: { 'max-inflight': 1, 'queue-timeout-ms': 20_000, 'command-timeout-ms': 20_000 },
  });
  t.teardown(() => broker.close());
  own.pause();
  const requests = Array.from({ length: 6 }, (_, i) => post(broker.url, '/', ['set', `q${i}`, 'v']));
  let s = await scrape(broker.adminUrl);
  for (let i = 0; i < 100 && value(s, 'sluice_queue_length') < 5; i++) {
    await sleep(50);
    s = await scrape(broker.adminUrl);
  }
  t.equal(value(s, 'sluice_queue_length'), 5, 'five requests wait behind the one admitted');
  t.equal(value(s, 'sluice_requests_running'), 1);
  t.equal(value(s, 'sluice_requests_running_max'), 1);
  t.equal(
    value(s, 'sluice_inflight_commands', { pool: 'main', tenant: 'default' }),
    1,
    'the admitted SET is written, unanswered',
  );
  await sleep(100);
  s = await scrape(broker.adminUrl);
  t.ok(value(s, 'sluice_queue_oldest_wait_seconds') >= 0.05, 'the oldest waiter has waited');
  own.resume();
  for (const response of await Promise.all(requests)) t.equal(response.status, 200);
  s = await scrape(broker.adminUrl);
  t.equal(value(s, 'sluice_queue_length'), 0);
  t.equal(value(s, 'sluice_queue_oldest_wait_seconds'), 0);
  t.equal(value(s, 'sluice_queue_wait_seconds_count'), 5, 'one observation per request that waited');

  await own.kill();
  for (let i = 0; i < 100 && value(s, 'sluice_redis_up') !== 0; i++) {
    await sleep(50);
    s = await scrape(broker.adminUrl);
  }
  t.equal(value(s, 'sluice_redis_up'), 0);
  t.equal(value(s, 'sluice_pool_connections', { pool: 'main', state: 'ready', tenant: 'default' }), 0);
  const down = await post(broker.url, '/', ['get', 'k']);
  t.match(down.body, { code: 'SLUICE_ERR_REDIS_UNAVAILABLE' });
  await own.restart();
  for (let i = 0; i < 200 && value(s, 'sluice_redis_up') !== 1; i++) {
    await sleep(50);
    s = await scrape(broker.adminUrl);
  }
  t.equal(value(s, 'sluice_redis_up'), 1, 'up again once Redis is back');
  t.ok(value(s, 'sluice_redis_reconnects_total', { pool: 'sluice-main' }) > 0, 'reconnects counted');
  t.equal(value(s, 'sluice_refusals_total', { reason: 'redis_unavailable' }), 1);
});

t.test("the registry is Sluice's own, never prom-client's global one", async (t) => {
  const broker = await startTestBroker(redis.url);
  t.teardown(() => broker.close());
  const { register } = await import('prom-client');
  t.same(await register.getMetricsAsJSON(), []);
});

function prometheusPath(): string | undefined {
  try {
    return execFileSync('which', ['prometheus'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const prometheus = prometheusPath();
t.test(
  'a real Prometheus scrapes the admin listener',
  { skip: prometheus ? false : 'prometheus is not installed (Debian package prometheus)' },
  async (t) => {
    const broker = await startTestBroker(redis.url);
    t.teardown(() => broker.close());
    const dir = mkdtempSync(join(tmpdir(), 'sluice-prometheus-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const target = new URL(broker.adminUrl).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    const port = await freePort();
    const child = spawn(
      prometheus!,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    const deadline = Date.now() + 60_000;
    let result: unknown[] = [];
    while (Date.now() < deadline) {
      try {
        const response = await fetch(
          `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('sluice_pool_connections')}`,
        );
        const body = (await response.json()) as { status: string; data?: { result?: unknown[] } };
        result = body.data?.result ?? [];
        if (result.length > 0) break;
      } catch {
        // Prometheus is still starting.
      }
      await sleep(500);
    }
    t.ok(result.length > 0, 'Prometheus stored sluice_pool_connections');
    t.ok(
      (result as { metric: Record<string, string> }[]).some(
        (r) => r.metric['pool'] === 'main' && r.metric['job'] === 'sluice',
      ),
      'the main pool series is there',
    );

    // Every query of the Grafana dashboard parses and runs on this Prometheus.
    const dashboard = JSON.parse(
      readFileSync(new URL('../metrics/dashboard.json', import.meta.url), 'utf8'),
    ) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    t.ok(exprs.length > 10);
    for (const expr of exprs) {
      const query = expr
        .replaceAll('$job', '.*')
        .replaceAll('$instance', '.*')
        .replaceAll('$__rate_interval', '1m');
      const response = await fetch(
        `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`,
      );
      const body = (await response.json()) as { status: string; error?: string };
      t.equal(body.status, 'success', `${expr} ${body.error ?? ''}`);
    }
  },
);
