// Redis faults seen through /ws: killed, stopped, CLIENT KILL mid-flight, and a fixed-seed fuzz of frames.
import fc from 'fast-check';
import t from 'tap';
import { WebSocket } from 'ws';
import { TOKEN, startTestBroker } from './helpers/broker.js';
import { killBrokerConnections, startRedis } from './helpers/redis.js';
import { type Frame, Peer } from './helpers/ws.js';
import { sleep } from './helpers/time.js';

const COMMAND_TIMEOUT_MS = 800;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'command-timeout-ms': COMMAND_TIMEOUT_MS } });
t.teardown(() => broker.close());

/** Every request over /ws is guarded against a lost reply: it resolves `{hung: true}` after this. */
const HANG_MS = 15_000;

// Opening /ws must work: a refused upgrade rejects here and fails the file (it was once a silent pass).
const probe = await Peer.open(broker.url);
await probe.close();

const tallyOf = (frames: readonly Frame[]) => {
  const counts: Record<string, number> = {};
  for (const f of frames) {
    const key = 'result' in f ? 'result' : String(f.code ?? (f.hung ? 'HUNG' : `closed ${f.closed}`));
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
};

t.test(
  'Redis SIGKILLed: every in-flight id answered with a code, sockets stay open, then recover',
  async (t) => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => Peer.open(broker.url)));
    t.teardown(() => {
      for (const s of sockets) s.close();
    });
    const replies: Frame[] = [];
    let running = true;
    const loops = sockets.map(async (socket, n) => {
      for (let i = 0; running; i++) {
        // Ten requests in flight per socket at any time.
        const batch = await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            socket.request({ cmd: ['set', `ws:${n}:${i}:${j}`, 'v'] }, HANG_MS),
          ),
        );
        replies.push(...batch);
        if (batch.some((f) => !('result' in f))) await sleep(50);
      }
    });
    await sleep(500);
    await redis.kill();
    await sleep(1000);
    const down = await sockets[0]!.request({ cmd: ['get', 'x'] }, HANG_MS);
    t.match(down, { code: 'SLUICE_ERR_REDIS_UNAVAILABLE' }, 'while down: REDIS_UNAVAILABLE at once');
    await redis.restart();
    let recovered = false;
    for (let i = 0; i < 200 && !recovered; i++) {
      recovered = 'result' in (await sockets[0]!.request({ cmd: ['ping'] }, HANG_MS));
      if (!recovered) await sleep(20);
    }
    running = false;
    await Promise.all(loops);
    t.comment(`replies ${JSON.stringify(tallyOf(replies))}`);
    const allowed = new Set(['result', 'SLUICE_ERR_REDIS_CONNECTION_LOST', 'SLUICE_ERR_REDIS_UNAVAILABLE']);
    t.same(
      Object.keys(tallyOf(replies)).filter((k) => !allowed.has(k)),
      [],
      'every reply is a result or a Redis-fault code (no hang, no close)',
    );
    t.ok(recovered, 'the same sockets work again after Redis returns');
    t.ok(
      sockets.every((s) => s.closeCode === undefined),
      'no socket was closed by the fault',
    );
  },
);

t.test('Redis SIGSTOPped: written requests answered REDIS_TIMEOUT at the command timeout', async (t) => {
  const socket = await Peer.open(broker.url);
  t.teardown(() => socket.close());
  redis.pause();
  t.teardown(() => redis.resume());
  const started = performance.now();
  const replies = await Promise.all(
    Array.from({ length: 10 }, () => socket.request({ cmd: ['incr', 'stopped'] }, HANG_MS)),
  );
  const ms = performance.now() - started;
  t.same(tallyOf(replies), { SLUICE_ERR_REDIS_TIMEOUT: 10 }, 'each request got REDIS_TIMEOUT');
  t.ok(ms >= COMMAND_TIMEOUT_MS - 50 && ms < COMMAND_TIMEOUT_MS + 2000, `after ${ms.toFixed(0)} ms`);
  redis.resume();
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    ok = 'result' in (await socket.request({ cmd: ['ping'] }, HANG_MS));
    if (!ok) await sleep(20);
  }
  t.ok(ok, 'the socket works after SIGCONT');
});

t.test('CLIENT KILL while INCRs run over /ws: counted once per acknowledged success', async (t) => {
  await redis.client().del('ws:counter');
  const sockets = await Promise.all(Array.from({ length: 10 }, () => Peer.open(broker.url)));
  t.teardown(() => {
    for (const s of sockets) s.close();
  });
  let sent = 0;
  let acknowledged = 0;
  let unknown = 0;
  const codes: Record<string, number> = {};
  let running = true;
  const loops = sockets.map(async (socket) => {
    while (running) {
      sent += 20;
      const batch = await Promise.all(
        Array.from({ length: 20 }, () => socket.request({ cmd: ['incr', 'ws:counter'] }, HANG_MS)),
      );
      for (const f of batch) {
        if ('result' in f) acknowledged++;
        else {
          const code = String(f.code);
          codes[code] = (codes[code] ?? 0) + 1;
          if (code !== 'SLUICE_ERR_REDIS_UNAVAILABLE') unknown++;
        }
      }
    }
  });
  for (let i = 0; i < 4; i++) {
    await sleep(300);
    await killBrokerConnections(redis.client());
  }
  await sleep(300);
  running = false;
  await Promise.all(loops);
  const final = Number(await redis.client().get('ws:counter'));
  t.comment(
    `sent ${sent}, acknowledged ${acknowledged}, unknown ${unknown}, counter ${final}; ${JSON.stringify(codes)}`,
  );
  t.same(
    Object.keys(codes).filter(
      (c) => c !== 'SLUICE_ERR_REDIS_CONNECTION_LOST' && c !== 'SLUICE_ERR_REDIS_UNAVAILABLE',
    ),
    [],
    'errors are CONNECTION_LOST or REDIS_UNAVAILABLE only',
  );
  t.ok(
    final >= acknowledged && final <= acknowledged + unknown,
    'acknowledged ≤ counter ≤ acknowledged + unknown',
  );
});

t.test('fuzz: arbitrary frames get a reply or a close with a reason, never 1011 (fixed seed)', async (t) => {
  const bad: string[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        fc
          .record({ id: fc.oneof(fc.integer(), fc.string()), cmd: fc.jsonValue({ maxDepth: 2 }) })
          .map((v) => JSON.stringify(v)),
        fc
          .record({ id: fc.integer(), pipeline: fc.jsonValue({ maxDepth: 3 }) })
          .map((v) => JSON.stringify(v)),
        fc.record({ id: fc.integer(), multi: fc.jsonValue({ maxDepth: 3 }) }).map((v) => JSON.stringify(v)),
        fc.string(),
      ),
      async (text) => {
        const ws = new WebSocket(`${broker.url.replace(/^http/, 'ws')}/ws`, {
          headers: { Authorization: `Bearer ${TOKEN}` },
        });
        await new Promise((r) => ws.once('open', r));
        const outcome = await new Promise<string>((resolve) => {
          const timer = setTimeout(() => resolve('timeout'), 2000);
          ws.once('message', (data: Buffer) => {
            clearTimeout(timer);
            try {
              JSON.parse(data.toString('utf8'));
              resolve('reply');
            } catch {
              resolve('non-JSON reply');
            }
          });
          ws.once('close', (code, reason) => {
            clearTimeout(timer);
            resolve(code === 1011 || reason.length === 0 ? `close ${code} "${reason}"` : 'close');
          });
          ws.send(text);
        });
        ws.terminate();
        if (outcome !== 'reply' && outcome !== 'close' && bad.length < 10)
          bad.push(`${text.slice(0, 80)} → ${outcome}`);
        return true;
      },
    ),
    { seed: 42, numRuns: 200 },
  );
  t.same(bad, [], 'every frame got a JSON reply or a close with a reason');
  const after = await Peer.open(broker.url);
  t.same((await after.request({ cmd: ['ping'] }, HANG_MS)).result, 'PONG', 'the broker still answers');
  after.close();
});
