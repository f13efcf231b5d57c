// One test per /ws limit, each pushed past with real sockets: frame bytes, in-flight, sockets, slow reader, heartbeat, drain.
import t from 'tap';
import { WebSocket } from 'ws';
import type { Broker } from '../broker/lifecycle/broker.js';
import { startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { connect, Peer } from './helpers/ws.js';
import { sleep, waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

async function broker(
  t: { teardown(fn: () => unknown): void },
  flags: Record<string, number>,
  logLines?: string[],
): Promise<Broker> {
  const started = await startTestBroker(redis.url, { flags, ...(logLines ? { logLines } : {}) });
  t.teardown(() => started.close());
  return started;
}

async function open(t: { teardown(fn: () => unknown): void }, url: string, query?: string): Promise<Peer> {
  const peer = await Peer.open(url, query ? { query } : {});
  t.teardown(() => peer.close());
  return peer;
}

/** Waits until a log line with `event` appears (the broker's own account of a limit being hit). */
async function logged(lines: string[], event: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 1000; i++) {
    const line = lines.find((l) => l.includes(`"event":"${event}"`));
    if (line) return JSON.parse(line);
    await sleep(10);
  }
  throw new Error(`no ${event} log line`);
}

t.test('a frame over SLUICE_WS_MAX_FRAME_BYTES closes the socket with 1009', async (t) => {
  const b = await broker(t, { 'ws-max-frame-bytes': 1024 });
  const fits = await open(t, b.url);
  t.same(await fits.request({ id: 1, cmd: ['ECHO', 'x'.repeat(900)] }), { id: 1, result: 'x'.repeat(900) });
  const big = await open(t, b.url);
  big.ws.send(JSON.stringify({ id: 1, cmd: ['ECHO', 'x'.repeat(2000)] }));
  t.match(await big.closed, {
    code: 1009,
    reason: /^SLUICE_ERR_WS_FRAME_TOO_LARGE .*SLUICE_WS_MAX_FRAME_BYTES/,
  });
  t.equal(b.ws.size >= 1, true, 'the other socket stays open');
  t.same(await fits.request({ id: 2, cmd: ['PING'] }), { id: 2, result: 'PONG' });
});

t.test(
  'requests past SLUICE_WS_MAX_INFLIGHT are answered SLUICE_ERR_WS_MAX_INFLIGHT, the socket stays',
  async (t) => {
    const b = await broker(t, { 'ws-max-inflight': 2 });
    const peer = await open(t, b.url);
    t.same(await peer.request({ id: 0, cmd: ['PING'] }), { id: 0, result: 'PONG' });
    // Redis is stopped, so the first two stay in flight while the rest arrive.
    redis.pause();
    const replies = [1, 2, 3, 4, 5].map((id) => peer.request({ id, cmd: ['ECHO', `v${id}`] }));
    const refused = await Promise.all(replies.slice(2));
    for (const reply of refused) {
      t.match(reply, { code: 'SLUICE_ERR_WS_MAX_INFLIGHT', error: /SLUICE_WS_MAX_INFLIGHT=2/ });
    }
    redis.resume();
    t.same(await Promise.all(replies.slice(0, 2)), [
      { id: 1, result: 'v1' },
      { id: 2, result: 'v2' },
    ]);
    t.same(await peer.request({ id: 6, cmd: ['PING'] }), { id: 6, result: 'PONG' });
    t.equal(peer.frames.length, 7, 'one answer per request');
  },
);

t.test('an upgrade past SLUICE_WS_MAX_SOCKETS is refused with HTTP 503 JSON', async (t) => {
  const b = await broker(t, { 'ws-max-sockets': 3 });
  const peers = await Promise.all([1, 2, 3].map(() => open(t, b.url)));
  const refused = await connect(b.url);
  t.notOk(refused instanceof WebSocket);
  t.match(refused, {
    status: 503,
    body: { code: 'SLUICE_ERR_WS_MAX_SOCKETS', error: /SLUICE_WS_MAX_SOCKETS=3/ },
  });
  await peers[0]!.close();
  // The server sees the close a moment after the client does.
  await waitFor(() => b.ws.size < 3, 2000, { everyMs: 10 });
  const again = await open(t, b.url);
  t.same(await again.request({ id: 1, cmd: ['PING'] }), { id: 1, result: 'PONG' });
});

t.test(
  'a reader that stops reading is closed with 1013 once SLUICE_WS_SEND_BUFFER_BYTES is exceeded',
  async (t) => {
    const lines: string[] = [];
    const b = await broker(t, { 'ws-send-buffer-bytes': 1024 }, lines);
    await redis.client().set('limits:big', 'x'.repeat(1024 * 1024));
    const slow = await open(t, b.url);
    const healthy = await open(t, b.url);
    slow.ws.pause();
    for (let id = 1; id <= 40; id++) slow.ws.send(JSON.stringify({ id, cmd: ['GET', 'limits:big'] }));
    const line = await logged(lines, 'ws_slow_reader');
    t.equal(line.limitBytes, 1024);
    t.same(await healthy.request({ id: 1, cmd: ['PING'] }), { id: 1, result: 'PONG' });
    slow.ws.resume();
    const closed = await slow.closed;
    t.equal(closed.code, 1013);
    t.match(closed.reason, /^SLUICE_ERR_WS_SLOW_READER .*SLUICE_WS_SEND_BUFFER_BYTES/);
    t.ok(slow.frames.length < 40, `cut off after ${slow.frames.length} of 40 replies`);
  },
);

t.test('a socket that stops answering pings is dropped after SLUICE_WS_HEARTBEAT_MS', async (t) => {
  const lines: string[] = [];
  const b = await broker(t, { 'ws-heartbeat-ms': 200 }, lines);
  const dead = await open(t, b.url);
  const alive = await open(t, b.url);
  dead.ws.pause(); // Reads nothing, so it never sees the ping nor answers it.
  await logged(lines, 'ws_heartbeat_timeout');
  dead.ws.resume();
  t.equal((await dead.closed).code, 1006, 'dropped without a close frame');
  // The live socket answered every ping and is still served after several heartbeats.
  await sleep(700);
  t.same(await alive.request({ id: 1, cmd: ['PING'] }), { id: 1, result: 'PONG' });
  t.equal(b.ws.size, 1);
});

t.test('draining answers what is in flight, then closes every socket with 1001', async (t) => {
  const b = await startTestBroker(redis.url);
  const peers = await Promise.all([1, 2, 3].map(() => Peer.open(b.url)));
  const subscriber = await Peer.open(b.url);
  t.same(await peers[0]!.request({ id: 1, cmd: ['PING'] }), { id: 1, result: 'PONG' });
  t.same(await subscriber.request({ id: 1, subscribe: ['limits:drain'] }), { id: 1, result: [1] });
  const last = peers[1]!.request({ id: 2, cmd: ['ECHO', 'last'] });
  // Wait until the server has the request (its answer is what drain must deliver first).
  await sleep(50);
  const closing = b.close();
  const answer = await last;
  t.ok(answer.result === 'last' || answer.code === 'SLUICE_ERR_DRAINING', JSON.stringify(answer));
  for (const peer of [...peers, subscriber]) {
    const closed = await peer.closed;
    t.equal(closed.code, 1001);
    t.match(closed.reason, /^SLUICE_ERR_DRAINING /);
  }
  await closing;
  t.equal(b.ws.size, 0);
});
