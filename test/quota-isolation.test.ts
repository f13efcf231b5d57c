// A noisy tenant at 10× its quota does not raise another tenant's p99 beyond 2× its quiet value (issue 21). The
// broker runs in its own process; the noise comes from another (pipelined raw requests: cheap to send), switched on
// and off so that quiet and noisy windows alternate in the same run, and the medians of the windows' p99s are
// compared: a machine busy with other work slows both kinds of window alike.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { median, quantile } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';
import { freePort } from './helpers/topology.js';

t.setTimeout(240_000);

const QUIET = 'quota-quiet-tenant-token';
const NOISY = 'quota-noisy-tenant-token';
/** The noisy tenant's quota, and ten times it: what it sends. */
const NOISY_QUOTA = 100;
const NOISY_RATE = 10 * NOISY_QUOTA;
const WINDOW_MS = 2000;
const ROUNDS = 9;
/** The quiet tenant's pace: one request every this many ms, each waiting for the one before. */
const QUIET_EVERY_MS = 4;

const redis = await startRedis();
t.teardown(() => redis.stop());
const dir = mkdtempSync(join(tmpdir(), 'sluice-quota-isolation-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'tokens.json');
writeFileSync(
  file,
  JSON.stringify({
    tokens: [
      { token: QUIET, right: 'readwrite', tenant: 'quiet', redisUrl: redis.url },
      {
        token: NOISY,
        right: 'readwrite',
        tenant: 'noisy',
        redisUrl: redis.url,
        quota: { requestsPerSecond: NOISY_QUOTA },
      },
    ],
  }),
);
const [port, adminPort] = [await freePort(), await freePort()];
const broker = await spawnBrokerProcess([
  ...['--port', String(port), '--admin-port', String(adminPort), '--redis-url', redis.url],
  ...['--token', TOKEN, '--tokens-file', file, '--log-level', 'warn', '--drain-timeout-ms', '1000'],
]);
t.teardown(() => broker.stop());

/**
 * The noise: every 10 ms, NOISY_RATE / 100 pipelined GETs in one write, over 4 keep-alive connections; it counts the
 * status lines it gets back. Reads "on", "off" and "report" on stdin; "report" prints the counts as JSON.
 */
const NOISE = `
const net = require('node:net');
const [port, token, perTick] = process.argv.slice(1);
const one = 'POST / HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer ' + token + '\\r\\nContent-Length: 19\\r\\n\\r\\n["GET","noisy:key"]';
const counts = { sent: 0, ok: 0, refused: 0, other: 0 };
let on = false;
const sockets = [];
for (let i = 0; i < 4; i++) {
  const s = net.connect(Number(port), '127.0.0.1');
  s.setEncoding('latin1');
  let tail = '';
  s.on('data', (text) => {
    const all = tail + text;
    let counted = 0;
    for (const m of all.matchAll(/HTTP\\/1\\.1 (\\d{3})/g)) {
      if (m[1] === '200') counts.ok++; else if (m[1] === '429') counts.refused++; else counts.other++;
      counted = m.index + 12;
    }
    // What may hold the start of a status line split between reads (never one already counted).
    tail = all.slice(Math.max(counted, all.length - 11));
  });
  s.on('error', () => {});
  sockets.push(s);
}
const batch = Math.ceil(Number(perTick) / sockets.length);
const chunk = one.repeat(batch);
setInterval(() => {
  if (!on) return;
  for (const s of sockets) {
    if (s.writableLength > 1 << 20) continue;
    s.write(chunk);
    counts.sent += batch;
  }
}, 10);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  for (const line of text.split('\\n')) {
    if (line === 'on') on = true;
    if (line === 'off') on = false;
    if (line === 'report') process.stdout.write(JSON.stringify(counts) + '\\n');
  }
});
`;

function startNoise(): {
  child: ChildProcess;
  send(line: string): void;
  report(): Promise<Record<string, number>>;
} {
  const child = spawn(process.execPath, ['-e', NOISE, String(port), NOISY, String(NOISY_RATE / 100)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdout!.setEncoding('utf8');
  return {
    child,
    send: (line) => child.stdin!.write(`${line}\n`),
    report: () =>
      new Promise((resolve) => {
        child.stdout!.once('data', (text: string) => resolve(JSON.parse(text.trim().split('\n').pop()!)));
        child.stdin!.write('report\n');
      }),
  };
}

const quietAgent = new Agent({ keepAlive: true, maxSockets: 1 });
t.teardown(() => quietAgent.destroy());

/** One quiet request; its latency in ms (its status must be 200). */
function quietRequest(i: number): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      `http://127.0.0.1:${port}/`,
      { method: 'POST', agent: quietAgent, headers: { Authorization: `Bearer ${QUIET}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(['SET', `quiet:${i % 100}`, 'v']));
  });
}

/** Paced quiet requests for `ms`: their latencies, and the statuses other than 200. */
async function quietWindow(ms: number): Promise<{ latencies: number[]; failures: number[] }> {
  const latencies: number[] = [];
  const failures: number[] = [];
  const end = performance.now() + ms;
  let i = 0;
  while (performance.now() < end) {
    const tick = performance.now();
    const { ms: took, status } = await quietRequest(i++);
    if (status === 200) latencies.push(took);
    else failures.push(status);
    const rest = QUIET_EVERY_MS - (performance.now() - tick);
    if (rest > 1) await sleep(rest);
  }
  return { latencies, failures };
}

t.test(
  "a noisy tenant at 10× its quota leaves the quiet tenant's p99 within 2× its quiet value",
  async (t) => {
    const noise = startNoise();
    t.teardown(() => noise.child.kill('SIGKILL'));
    // Warm up both paths (JIT, connections) before measuring.
    noise.send('on');
    await quietWindow(1000);
    noise.send('off');
    await sleep(200);
    const quietP99: number[] = [];
    const noisyP99: number[] = [];
    let failures: number[] = [];
    const before = await noise.report();
    let noisyMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const calm = await quietWindow(WINDOW_MS);
      quietP99.push(quantile(calm.latencies, 0.99));
      noise.send('on');
      const started = performance.now();
      const busy = await quietWindow(WINDOW_MS);
      noise.send('off');
      noisyMs += performance.now() - started;
      noisyP99.push(quantile(busy.latencies, 0.99));
      failures = [...failures, ...calm.failures, ...busy.failures];
      await sleep(100);
    }
    await sleep(300);
    const after = await noise.report();
    const sent = after.sent! - before.sent!;
    const ok = after.ok! - before.ok!;
    const refused = after.refused! - before.refused!;
    const quiet = median(quietP99);
    const noisy = median(noisyP99);
    t.comment(
      `quiet p99s ${quietP99.map((v) => v.toFixed(2)).join(' ')} ms; noisy ${noisyP99.map((v) => v.toFixed(2)).join(' ')} ms`,
    );
    t.comment(
      `noise: ${sent} sent (${((sent / noisyMs) * 1000).toFixed(0)}/s), ${ok} admitted, ${refused} refused, ${after.other! - before.other!} other`,
    );
    t.same(failures, [], 'every quiet request succeeded');
    t.ok(
      sent / (noisyMs / 1000) >= 5 * NOISY_QUOTA,
      'the noise ran well over its quota (≥ 5×; 10× intended)',
    );
    t.ok(refused > ok, 'most of the noise was refused');
    t.ok(
      ok <= (NOISY_QUOTA * (noisyMs + 1000 * ROUNDS)) / 1000 + 2 * NOISY_QUOTA,
      'the noise got no more than its quota (its rate over the run, plus a burst)',
    );
    t.ok(
      noisy <= 2 * Math.max(quiet, 1),
      `median p99 with the noise ${noisy.toFixed(2)} ms ≤ 2 × ${quiet.toFixed(2)} ms without (floor 1 ms)`,
    );
  },
);
