// /ws over real sockets and a real Redis: auth on upgrade, cmd/pipeline/multi, encodings, ordering, ids, bad frames.
import t from 'tap';
import { WebSocket } from 'ws';
import { READONLY_TOKEN, TOKEN, post, startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { connect, Peer, wsUrl } from './helpers/ws.js';
import { frame } from './helpers/ws-raw.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'max-pipeline-commands': 1000 } });
t.teardown(() => broker.close());

async function open(
  t: { teardown(fn: () => unknown): void },
  options: Parameters<typeof Peer.open>[1] = {},
): Promise<Peer> {
  const peer = await Peer.open(broker.url, options);
  t.teardown(() => peer.close());
  return peer;
}

t.test('a bad or missing token is refused with 401 JSON before the upgrade', async (t) => {
  const missing = await connect(broker.url, { token: null });
  t.notOk(missing instanceof WebSocket);
  t.same(missing, {
    status: 401,
    body: { error: 'WRONGPASS invalid or missing auth token', code: 'SLUICE_ERR_AUTH_MISSING' },
  });
  const wrong = await connect(broker.url, { token: 'not-a-token' });
  t.match(wrong, { status: 401, body: { code: 'SLUICE_ERR_AUTH_INVALID' } });
  const viaQuery = await connect(broker.url, { token: null, query: '_token=nope' });
  t.match(viaQuery, { status: 401, body: { code: 'SLUICE_ERR_AUTH_INVALID' } });
  // The query token works where headers cannot be set (browsers, some edge runtimes).
  const ok = await Peer.open(broker.url, { token: null, query: `_token=${encodeURIComponent(TOKEN)}` });
  t.same(await ok.request({ cmd: ['PING'] }), { id: 1, result: 'PONG' });
  await ok.close();
});

t.test('cmd, pipeline, multi and errors echo the id', async (t) => {
  const peer = await open(t);
  t.same(await peer.request({ id: 'a', cmd: ['SET', 'basic:k', 'v'] }), { id: 'a', result: 'OK' });
  t.same(await peer.request({ id: 7, cmd: ['GET', 'basic:k'] }), { id: 7, result: 'v' });
  t.same(await peer.request({ id: 8, cmd: ['GET', 'basic:none'] }), { id: 8, result: null });
  t.same(await peer.request({ id: 9, cmd: ['INCRBY', 'basic:n', 5] }), { id: 9, result: 5 });
  t.same(await peer.request({ id: 10, cmd: ['LPUSH', 'basic:k', 'x'] }), {
    id: 10,
    error: 'WRONGTYPE Operation against a key holding the wrong kind of value',
    code: 'SLUICE_ERR_REDIS',
  });
  t.same(
    await peer.request({
      id: 11,
      pipeline: [
        ['SET', 'basic:p', '1'],
        ['INCR', 'basic:p'],
        ['LPUSH', 'basic:p', 'x'],
        ['GET', 'basic:p'],
      ],
    }),
    {
      id: 11,
      results: [
        { result: 'OK' },
        { result: 2 },
        {
          error: 'WRONGTYPE Operation against a key holding the wrong kind of value',
          code: 'SLUICE_ERR_REDIS',
        },
        { result: '2' },
      ],
    },
  );
  t.same(
    await peer.request({
      id: 12,
      multi: [
        ['SET', 'basic:m', '1'],
        ['INCR', 'basic:m'],
        ['LPUSH', 'basic:m', 'x'],
      ],
    }),
    {
      id: 12,
      results: [
        { result: 'OK' },
        { result: 2 },
        {
          error: 'WRONGTYPE Operation against a key holding the wrong kind of value',
          code: 'SLUICE_ERR_REDIS',
        },
      ],
    },
  );
  // A command that fails to queue discards the transaction: one error for the whole request, nothing ran.
  const aborted = await peer.request({
    id: 13,
    multi: [
      ['SET', 'basic:aborted', '1'],
      ['NOSUCHCOMMAND', 'x'],
    ],
  });
  t.match(aborted, { id: 13, error: String, code: 'SLUICE_ERR_REDIS' });
  t.notOk('results' in aborted);
  t.same(await peer.request({ id: 14, cmd: ['EXISTS', 'basic:aborted'] }), { id: 14, result: 0 });
  // Refused commands use the same rules as REST.
  t.match(await peer.request({ id: 15, cmd: ['SELECT', '1'] }), {
    id: 15,
    code: 'SLUICE_ERR_COMMAND_REFUSED',
  });
  t.match(
    await peer.request({
      id: 16,
      multi: [
        ['SET', 'basic:q', '1'],
        ['WATCH', 'basic:q'],
      ],
    }),
    {
      id: 16,
      code: 'SLUICE_ERR_COMMAND_REFUSED',
    },
  );
  t.match(await peer.request({ id: 17, cmd: ['GET', 'basic:k'], deadlineMs: 5000 }), { id: 17, result: 'v' });
});

t.test('the same rights as REST: a read-only token reads, is refused writes', async (t) => {
  const peer = await open(t, { token: READONLY_TOKEN });
  t.same(await peer.request({ id: 1, cmd: ['GET', 'basic:k'] }), { id: 1, result: 'v' });
  t.match(await peer.request({ id: 2, cmd: ['SET', 'basic:k', 'w'] }), {
    id: 2,
    code: 'SLUICE_ERR_AUTH_NOPERM',
  });
  t.match(
    await peer.request({
      id: 3,
      pipeline: [
        ['GET', 'basic:k'],
        ['DEL', 'basic:k'],
      ],
    }),
    {
      id: 3,
      results: [{ result: 'v' }, { code: 'SLUICE_ERR_AUTH_NOPERM' }],
    },
  );
  // Read-only tokens may subscribe.
  t.same(await peer.request({ id: 4, subscribe: ['news'] }), { id: 4, result: [1] });
});

t.test('?encoding=base64 and argEncoding base64 are binary-safe', async (t) => {
  const bytes = Buffer.from([0, 1, 0xfe, 0xff, 0x0a]);
  const peer = await open(t, { query: 'encoding=base64' });
  t.same(
    await peer.request({
      id: 1,
      cmd: ['SET', Buffer.from('basic:bin').toString('base64'), bytes.toString('base64')],
      argEncoding: 'base64',
    }),
    { id: 1, result: 'OK' },
  );
  t.same(await peer.request({ id: 2, cmd: ['GET', 'basic:bin'] }), {
    id: 2,
    result: bytes.toString('base64'),
  });
  t.same(
    await peer.request({
      id: 3,
      pipeline: [
        ['SET', 'basic:b2', 'x'],
        ['MGET', 'basic:b2', 'basic:none'],
      ],
    }),
    {
      id: 3,
      results: [{ result: 'OK' }, { result: [Buffer.from('x').toString('base64'), null] }],
    },
  );
  t.same(await peer.request({ id: 4, cmd: ['STRLEN', 'basic:bin'] }), { id: 4, result: 5 });
  const raw = (await redis.client().getBuffer('basic:bin')) as Buffer;
  t.same(raw, bytes);
  // The plain socket sees the same value decoded as UTF-8, as on HTTP.
  const plain = await open(t);
  t.same(await plain.request({ id: 1, cmd: ['GET', 'basic:b2'] }), { id: 1, result: 'x' });
});

t.test('commands of one socket run in the order sent (unawaited SET then GET)', async (t) => {
  const peer = await open(t);
  const replies: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) {
    replies.push(peer.request({ id: `s${i}`, cmd: ['SET', 'basic:order', String(i)] }));
    replies.push(peer.request({ id: `g${i}`, cmd: ['GET', 'basic:order'] }));
    replies.push(peer.request({ id: `a${i}`, cmd: ['RPUSH', 'basic:order-list', String(i)] }));
  }
  const all = (await Promise.all(replies)) as { id: string; result: unknown }[];
  for (let i = 0; i < 300; i++) {
    if (all[i * 3 + 1]!.result !== String(i)) {
      t.fail(`GET ${i} saw ${JSON.stringify(all[i * 3 + 1])}`);
      return;
    }
  }
  const list = await redis.client().lrange('basic:order-list', 0, -1);
  t.same(
    list,
    Array.from({ length: 300 }, (_, i) => String(i)),
  );
});

t.test('1,000 concurrent ids on one socket all answered once, with their own results', async (t) => {
  const peer = await open(t);
  const answers = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => peer.request({ id: i + 1, cmd: ['ECHO', `v${i + 1}`] })),
  );
  t.equal(answers.filter((a, i) => a.id === i + 1 && a.result === `v${i + 1}`).length, 1000);
  t.equal(peer.frames.length, 1000);
});

t.test('replies never cross sockets', async (t) => {
  const peers = await Promise.all(Array.from({ length: 10 }, () => open(t)));
  const results = await Promise.all(
    peers.flatMap((peer, p) =>
      Array.from({ length: 50 }, (_, i) =>
        peer.request({ id: i, cmd: ['ECHO', `${p}:${i}`] }).then((r) => ({ p, i, r })),
      ),
    ),
  );
  t.equal(results.filter(({ p, i, r }) => r.result === `${p}:${i}`).length, 500);
  t.equal(
    peers.reduce((n, peer) => n + peer.frames.length, 0),
    500,
  );
});

t.test('bad input: a reply with the id where there is one, else a close with a reason', async (t) => {
  const peer = await open(t);
  t.match(await peer.request({ id: 1, get: ['k'] }), { id: 1, code: 'SLUICE_ERR_WS_BAD_REQUEST' });
  t.match(await peer.request({ id: 2, cmd: 'GET k' }), { id: 2, code: 'SLUICE_ERR_REQUEST_BAD_COMMAND' });
  t.match(await peer.request({ id: 3, cmd: ['GET', 'k'], deadlineMs: -1 }), {
    id: 3,
    code: 'SLUICE_ERR_WS_BAD_REQUEST',
  });
  t.match(await peer.request({ id: 4, pipeline: Array.from({ length: 1001 }, () => ['PING']) }), {
    id: 4,
    code: 'SLUICE_ERR_REQUEST_TOO_MANY_COMMANDS',
  });
  // Still usable afterwards.
  t.same(await peer.request({ id: 5, cmd: ['PING'] }), { id: 5, result: 'PONG' });

  const junk = await open(t);
  junk.ws.send('this is not json');
  t.match(await junk.closed, { code: 1008, reason: /^SLUICE_ERR_WS_BAD_FRAME / });
  t.match(junk.frames[0], { id: null, code: 'SLUICE_ERR_WS_BAD_FRAME' });

  const noId = await open(t);
  noId.ws.send(JSON.stringify({ cmd: ['PING'] }));
  t.match(await noId.closed, { code: 1008, reason: /^SLUICE_ERR_WS_BAD_FRAME / });

  const binary = await open(t);
  binary.ws.send(Buffer.from('{"id":1,"cmd":["PING"]}'), { binary: true });
  t.match(await binary.closed, { code: 1003, reason: /^SLUICE_ERR_WS_BINARY_FRAME / });

  // Invalid UTF-8 in a text frame closes with 1007. Sent raw, since the ws client validates its own text.
  const utf8 = await open(t);
  const socket = (utf8.ws as unknown as { _socket: import('node:net').Socket })._socket;
  socket.write(frame({ opcode: 1, payload: Buffer.from([0xff, 0xfe]) }));
  t.match(await utf8.closed, { code: 1007, reason: /^SLUICE_ERR_WS_BAD_UTF8 / });

  // Nothing of this leaked onto a healthy socket.
  t.equal(peer.frames.length, 5);
  t.same(await peer.request({ id: 6, cmd: ['PING'] }), { id: 6, result: 'PONG' });
});

t.test('plain HTTP on /ws and unknown upgrade paths are refused', async (t) => {
  const res = await post(broker.url, '/ws', ['PING']);
  t.match(res, { status: 400, body: { code: 'SLUICE_ERR_HTTP_BAD_HEADER' } });
  const other = new WebSocket(wsUrl(broker.url).replace('/ws', '/other'), {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  const status = await new Promise<number>((resolve) => {
    other.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
    other.once('error', () => resolve(-1));
  });
  t.equal(status, 404);
});
