// Metrics on vs off: the same REST load against two brokers on one Redis, alternating runs, medians and their ratio.
// Run: node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs bench/metrics-cost.ts
// Env: REQUESTS (20000), CONCURRENCY (32), RUNS (3).
import { Agent, request } from 'node:http';
import { startTestBroker, TOKEN } from '../test/helpers/broker.js';
import { startRedis } from '../test/helpers/redis.js';

const REQUESTS = Number(process.env['REQUESTS'] ?? 20_000);
const CONCURRENCY = Number(process.env['CONCURRENCY'] ?? 32);
const RUNS = Number(process.env['RUNS'] ?? 3);

/** Requests per second for REQUESTS `SET`/`GET` requests over CONCURRENCY keep-alive connections. */
async function load(url: string): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const { hostname, port } = new URL(url);
  let next = 0;
  const one = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        { agent, hostname, port, method: 'POST', path: '/', headers: { Authorization: `Bearer ${TOKEN}` } },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        await one(i % 2 === 0 ? `["set","k${i % 100}","v"]` : `["get","k${i % 100}"]`);
      }
    }),
  );
  agent.destroy();
  return REQUESTS / ((performance.now() - started) / 1000);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const redis = await startRedis();
const on = await startTestBroker(redis.url, { flags: { 'metrics-enabled': true } });
const off = await startTestBroker(redis.url, { flags: { 'metrics-enabled': false } });
try {
  await load(on.url);
  await load(off.url); // warm-up: JIT, connections
  const results = { on: [] as number[], off: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    results.off.push(await load(off.url));
    results.on.push(await load(on.url));
  }
  const ratio = median(results.on) / median(results.off);
  process.stdout.write(
    `metrics cost: ${REQUESTS} requests × ${RUNS} runs, concurrency ${CONCURRENCY}\n` +
      `  off: ${results.off.map((r) => r.toFixed(0)).join(' ')} req/s (median ${median(results.off).toFixed(0)})\n` +
      `  on:  ${results.on.map((r) => r.toFixed(0)).join(' ')} req/s (median ${median(results.on).toFixed(0)})\n` +
      `  on/off throughput ratio: ${ratio.toFixed(3)} (cost ${((1 - ratio) * 100).toFixed(1)}%)\n`,
  );
} finally {
  await on.close();
  await off.close();
  await redis.stop();
}
