// The client's WebSocket transport: against a scripted /ws peer (framing, ids, drops), then the real broker's /ws.

import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { type Client, SluiceError, type WebSocketConstructor, createClient } from '../client/index.js';
import { TOKEN, startTestBroker } from './helpers/broker.js';
import { rejects } from './helpers/client.js';
import { startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';

const WS: WebSocketConstructor = WebSocket;
const b64 = (s: string) => Buffer.from(s).toString('base64');

type Frame = { id: number; [op: string]: unknown };

/** A /ws peer speaking docs/websocket.md over an in-memory map; `hold` delays replies so tests can reorder or drop. */
async function scriptedPeer(t: { teardown(fn: () => unknown): void }) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const store = new Map<string, string>();
  const frames: Frame[] = [];
  const upgrades: Array<{ url: string; authorization: string | undefined }> = [];
  const sockets = new Set<WebSocket>();
  const state = { hold: false, held: [] as Array<[WebSocket, string]> };
  const run = (cmd: string[]): unknown => {
    const [name, ...args] = cmd;
    if (name === 'SET') return store.set(args[0]!, args[1]!) && 'OK';
    if (name === 'GET') return store.has(args[0]!) ? b64(store.get(args[0]!)!) : null;
    if (name === 'INCR') {
      const n = Number(store.get(args[0]!) ?? 0) + 1;
      store.set(args[0]!, String(n));
      return n;
    }
    return { error: `ERR unknown command '${name}'` };
  };
  const item = (r: unknown) => (r && typeof r === 'object' ? r : { result: r });
  wss.on('connection', (socket, req) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    upgrades.push({ url: req.url ?? '', authorization: req.headers.authorization });
    socket.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      frames.push(f);
      const decode = (c: string[]) =>
        f['argEncoding'] === 'base64'
          ? [c[0]!, ...c.slice(1).map((a) => Buffer.from(a, 'base64').toString('latin1'))]
          : c;
      let reply: object;
      if (f['cmd']) reply = { id: f.id, ...item(run(decode(f['cmd'] as string[]))) };
      else if (f['pipeline'])
        reply = { id: f.id, results: (f['pipeline'] as string[][]).map((c) => item(run(decode(c)))) };
      else if (f['multi']) {
        const cmds = f['multi'] as string[][];
        reply = cmds.some((c) => c[0] === 'BAD')
          ? { id: f.id, error: 'EXECABORT Transaction discarded because of previous errors.' }
          : { id: f.id, results: cmds.map((c) => item(run(decode(c)))) };
      } else if (f['subscribe']) reply = { id: f.id, result: [1] };
      else reply = { id: f.id, result: [0] };
      if (state.hold) state.held.push([socket, JSON.stringify(reply)]);
      else socket.send(JSON.stringify(reply));
    });
  });
  t.teardown(() => new Promise((r) => wss.close(r)));
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    frames,
    upgrades,
    sockets,
    state,
    release(reverse: boolean) {
      const held = reverse ? state.held.reverse() : state.held;
      for (const [s, text] of held) s.send(text);
      state.held = [];
      state.hold = false;
    },
    push(frame: object) {
      for (const s of sockets) s.send(JSON.stringify(frame));
    },
  };
}

function wsClient(t: { teardown(fn: () => unknown): void }, url: string): Client {
  const c = createClient({ url, token: TOKEN, transport: 'ws', WebSocket: WS });
  t.teardown(() => c.close());
  return c;
}

t.test('scripted peer', async (t) => {
  t.test('connects lazily to /ws with the token header and base64 replies', async (t) => {
    const peer = await scriptedPeer(t);
    const c = wsClient(t, peer.url);
    await sleep(50);
    t.equal(peer.upgrades.length, 0, 'creating a client does no I/O');
    t.equal(await c.set('k', 'v'), 'OK');
    t.equal(await c.get('k'), 'v');
    t.same(peer.upgrades, [{ url: '/ws?encoding=base64', authorization: `Bearer ${TOKEN}` }]);
    t.same(peer.frames[0], { id: 1, cmd: ['SET', 'k', 'v'] });
  });

  t.test('1,000 concurrent requests matched by id when replies come back reversed', async (t) => {
    const peer = await scriptedPeer(t);
    const c = wsClient(t, peer.url);
    await c.set('warm', '1');
    peer.state.hold = true;
    const calls = Array.from({ length: 1000 }, (_, i) => (i % 2 ? c.incr(`n${i}`) : c.get(`missing${i}`)));
    await waitFor(() => peer.state.held.length === 1000, 2000);
    peer.release(true);
    const out = await Promise.all(calls);
    t.same(
      out,
      Array.from({ length: 1000 }, (_, i) => (i % 2 ? 1 : null)),
    );
  });

  t.test('pipeline, multi, deadline and binary arguments on the wire', async (t) => {
    const peer = await scriptedPeer(t);
    const c = wsClient(t, peer.url);
    t.same(
      await c
        .pipeline()
        .set('a', '1')
        .call('INCR', 'a')
        .call('NOPE')
        .exec()
        .then((r) => r.slice(0, 2)),
      ['OK', 2],
    );
    t.same(await c.multi().call('INCR', 'a').get('a').exec(), [3, '3']);
    const discarded = await rejects(c.multi().call('BAD').exec());
    t.equal(discarded.code, 'REDIS_ERR');
    t.match(discarded.message, /^EXECABORT/);
    const unknown = await rejects(c.call('NOPE'));
    t.equal(unknown.code, 'REDIS_ERR');
    await c.withDeadline(250).get('a');
    t.same(peer.frames.at(-1), { id: peer.frames.at(-1)!.id, cmd: ['GET', 'a'], deadlineMs: 250 });
    await c.set('bin', new Uint8Array([0xff, 0x00]));
    t.same(peer.frames.at(-1)!['argEncoding'], 'base64');
    t.same(peer.frames.at(-1)!['cmd'], ['SET', 'Ymlu', '/wA=']);
    t.equal(peer.store.get('bin'), '\xff\x00');
  });

  t.test('a drop fails pending requests with a typed error; the next call reconnects', async (t) => {
    const peer = await scriptedPeer(t);
    const c = wsClient(t, peer.url);
    await c.set('k', '1');
    peer.state.hold = true;
    const pending = c.incr('k');
    await waitFor(() => peer.state.held.length === 1, 2000);
    for (const s of peer.sockets) s.terminate();
    const e = await rejects(pending);
    t.equal(e.code, 'SLUICE_ERR_CLIENT_NETWORK');
    t.equal(e.retryable, false, 'it may have run: never re-sent');
    peer.state.hold = false;
    t.equal(await c.get('k'), '2');
    t.equal(peer.upgrades.length, 2, 'reconnected lazily');
  });

  t.test('subscriptions get pushes and are re-made after a reconnect', async (t) => {
    const peer = await scriptedPeer(t);
    const c = wsClient(t, peer.url);
    const got: string[] = [];
    const gotP: string[] = [];
    const unsubscribe = await c.subscribe('ch', (m, ch) => got.push(`${ch}:${m}`));
    const unsubscribe2 = await c.subscribe('ch', (m) => got.push(`second:${m}`));
    await c.psubscribe('c*', (m, ch, p) => gotP.push(`${p}:${ch}:${m}`));
    t.equal(peer.frames.filter((f) => f['subscribe']).length, 1, 'one server subscription per channel');
    peer.push({ type: 'message', channel: 'ch', data: b64('hello') });
    peer.push({ type: 'pmessage', pattern: 'c*', channel: 'ch', data: b64('hi') });
    await waitFor(() => got.length === 2 && gotP.length === 1, 2000);
    t.same(got, ['ch:hello', 'second:hello']);
    t.same(gotP, ['c*:ch:hi']);
    for (const s of peer.sockets) s.terminate();
    await waitFor(() => peer.frames.filter((f) => f['subscribe']).length === 2, 2000);
    t.same(
      peer.frames.slice(-2).map((f) => f['subscribe'] ?? f['psubscribe']),
      [['ch'], ['c*']],
      're-subscribed',
    );
    peer.push({ type: 'message', channel: 'ch', data: b64('again') });
    await waitFor(() => got.length === 4, 2000);
    t.same(got.slice(2), ['ch:again', 'second:again']);
    unsubscribe();
    t.equal(peer.frames.filter((f) => f['unsubscribe']).length, 0, 'still one listener');
    unsubscribe2();
    await waitFor(() => peer.frames.some((f) => f['unsubscribe']), 2000);
    t.same(peer.frames.find((f) => f['unsubscribe'])!['unsubscribe'], ['ch']);
  });

  t.test('close lets pending replies arrive, then refuses new calls', async (t) => {
    const peer = await scriptedPeer(t);
    const c = createClient({ url: peer.url, token: TOKEN, transport: 'ws', WebSocket: WS });
    peer.state.hold = true;
    const pending = c.incr('x');
    await waitFor(() => peer.state.held.length === 1, 2000);
    const closing = c.close();
    peer.release(false);
    t.equal(await pending, 1);
    await closing;
    t.equal((await rejects(c.get('x'))).code, 'SLUICE_ERR_CLIENT_CLOSED');
  });
});

t.test('a socket that never opens fails with a retryable connect error', async (t) => {
  const c = createClient({ url: 'http://127.0.0.1:1', token: TOKEN, transport: 'ws', WebSocket: WS });
  const e = await rejects(c.get('k'));
  t.equal(e.code, 'SLUICE_ERR_CLIENT_CONNECT');
  t.equal(e.retryable, true);
  await c.close();
});

t.test('real broker /ws', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const broker = await startTestBroker(redis.url);
  t.teardown(() => broker.close());
  const probe = createClient({ url: broker.url, token: TOKEN, transport: 'ws', WebSocket: WS });
  const alive = await probe.ping().then(
    () => true,
    (error: unknown) =>
      error instanceof SluiceError && error.code === 'SLUICE_ERR_CLIENT_CONNECT'
        ? false
        : Promise.reject(error),
  );
  await probe.close();
  if (!alive) {
    t.comment('skipped: the broker does not serve /ws yet');
    return;
  }
  const c = wsClient(t, broker.url);
  const http = createClient({ url: broker.url, token: TOKEN });
  t.teardown(() => http.close());
  t.equal(await c.set('w:k', 'v'), 'OK');
  const [set, get] = [c.set('w:o', '1'), c.get('w:o')];
  t.same(await Promise.all([set, get]), ['OK', '1'], 'order on one socket');
  const ids = await Promise.all(Array.from({ length: 1000 }, (_, i) => c.echo(String(i))));
  t.same(
    ids,
    Array.from({ length: 1000 }, (_, i) => String(i)),
  );
  t.same(await c.pipeline().set('w:p', '1').incr('w:p').exec(), ['OK', 2]);
  t.same(await c.multi().incr('w:p').get('w:p').exec(), [3, '3']);
  const bytes = new Uint8Array([0, 0xff, 0x80, 10]);
  t.equal(await c.set('w:bin', bytes), 'OK');
  t.same(await c.callBuffer('GET', 'w:bin'), bytes);
  await c.set('w:big', '9223372036854775806');
  t.equal(await c.incr('w:big'), 9223372036854775807n);
  const got: string[] = [];
  const unsubscribe = await c.subscribe('w:chan', (m) => got.push(m));
  await http.publish('w:chan', 'from REST');
  await waitFor(() => got.length === 1, 2000);
  t.same(got, ['from REST']);
  unsubscribe();
  const bad = createClient({ url: broker.url, token: 'nope', transport: 'ws', WebSocket: WS });
  t.equal((await rejects(bad.get('w:k'))).code, 'SLUICE_ERR_CLIENT_CONNECT', 'refused before the upgrade');
  await bad.close();
});
