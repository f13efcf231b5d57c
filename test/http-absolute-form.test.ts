// Absolute-form request targets (`POST http://host/ HTTP/1.1`, RFC 9112 §3.2.2) on the fast path, on node:http and
// through a real haproxy, which forwards them as the client sent them: read as the path they carry, host ignored.
import t, { type Test } from 'tap';
import type { Broker } from '../broker/lifecycle/broker.js';
import { TOKEN, startTestBroker } from './helpers/broker.js';
import { haproxyPath, startHaproxy } from './helpers/haproxy.js';
import { parseRawResponse, rawConnect } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { frame, serverFrames } from './helpers/ws-raw.js';
import { sleep, waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());
const based = await startTestBroker(redis.url, { flags: { 'base-path': '/redis' } });
t.teardown(() => based.close());
const direct = redis.client();

/** Requests and upgrades node:http parsed itself on `b`'s listener: the fast path emits neither event. */
function nodeCounter(b: Broker): () => number {
  let count = 0;
  b.server.server.on('request', () => count++);
  b.server.server.on('upgrade', () => count++);
  return () => count;
}
const nodeSeen = new Map([
  [broker, nodeCounter(broker)],
  [based, nodeCounter(based)],
]);

/** A request as raw text, closing its connection; `body` JSON-encoded unless a string; `auth`: send the token. */
function raw(method: string, target: string, body?: unknown, auth = true): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: example.com'];
  if (auth) lines.push(`Authorization: Bearer ${TOKEN}`);
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(text)}`);
  lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${text}`;
}

/** A WebSocket upgrade request for `target`. */
const upgrade = (target: string) =>
  `GET ${target} HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

type Path = 'fast' | 'node';

/**
 * Sends `text` to `url` and returns what came back once the server closed (or after `waitMs`). `node`: the request
 * is split across two TCP reads, so the fast path (which reads only whole requests) leaves it to node:http.
 */
async function exchange(url: string, text: string, path: Path, waitMs = 3000): Promise<string> {
  const client = await rawConnect(url);
  if (path === 'fast') client.socket.write(text);
  else {
    const half = text.indexOf('\r\n') + 2;
    client.socket.write(text.slice(0, half));
    await sleep(30);
    client.socket.write(text.slice(half));
  }
  await Promise.race([client.closed, sleep(waitMs)]);
  client.socket.destroy();
  return client.received();
}

/** Sends each request on `path` and checks that the path served it; returns the parsed answers. */
async function served(t: Test, b: Broker, texts: readonly string[], path: Path, label: string) {
  const counter = nodeSeen.get(b)!;
  const before = counter();
  const answers = [];
  for (const text of texts) answers.push(parseRawResponse(await exchange(b.url, text, path)));
  t.equal(counter() - before, path === 'fast' ? 0 : texts.length, `${label}: all served by the ${path} path`);
  return answers.map(({ status, body }) => ({ status, body }));
}

for (const path of ['fast', 'node'] as const) {
  t.test(`${path} path: absolute-form targets are read as their path, the host ignored`, async (t) => {
    await direct.del('af:k', 'af:n');
    const answers = await served(
      t,
      broker,
      [
        raw('POST', 'http://example.com/', ['SET', 'af:k', `v-${path}`]),
        raw('GET', 'HTTP://Other.Example:8080/get/af:k'),
        raw('POST', 'https://127.0.0.1:1/pipeline', [
          ['GET', 'af:k'],
          ['ECHO', 'x'],
        ]),
        raw('POST', 'http://example.com/multi-exec', [
          ['INCR', 'af:n'],
          ['GET', 'af:k'],
        ]),
        raw('POST', 'http://example.com', ['GET', 'af:k']),
        raw('POST', `http://example.com?_token=${TOKEN}`, ['GET', 'af:k'], false),
        raw('PUT', 'http://[::1]:80/set/af:put', 'from-put'),
      ],
      path,
      'absolute-form',
    );
    t.same(answers, [
      { status: 200, body: { result: 'OK' } },
      { status: 200, body: { result: `v-${path}` } },
      { status: 200, body: [{ result: `v-${path}` }, { result: 'x' }] },
      { status: 200, body: [{ result: 1 }, { result: `v-${path}` }] },
      { status: 200, body: { result: `v-${path}` } },
      { status: 200, body: { result: `v-${path}` } },
      { status: 200, body: { result: 'OK' } },
    ]);
    t.equal(await direct.get('af:put'), 'from-put');
  });

  t.test(`${path} path: malformed targets are a 400 naming what was expected; nothing runs`, async (t) => {
    await direct.del('af:bad');
    // Read by node:http's parser, refused by the broker; the fast path leaves them all to node:http.
    for (const target of [
      'ftp://example.com/set/af:bad/1',
      'ws://example.com/set/af:bad/1',
      'http://user@example.com/set/af:bad/1',
      'http:///set/af:bad/1',
      'http://',
      '*',
    ]) {
      const answer = parseRawResponse(await exchange(broker.url, raw('GET', target), path));
      t.equal(answer.status, 400, target);
      t.match(answer.body, { code: 'SLUICE_ERR_HTTP_BAD_TARGET' }, target);
    }
    // Refused by node:http's parser itself.
    for (const target of ['http:/example.com/set/af:bad/1', 'set/af:bad/1', 'example.com:80', 'http://x#f']) {
      const answer = parseRawResponse(await exchange(broker.url, raw('GET', target), path));
      t.equal(answer.status, 400, target);
      t.match(answer.body, { code: 'SLUICE_ERR_HTTP_BAD_REQUEST' }, target);
    }
    t.equal(await direct.exists('af:bad'), 0, 'no refused request ran');
  });
}

t.test('node:http: a chunked POST in absolute-form', async (t) => {
  await direct.set('af:k', 'chunked');
  const body = '["GET","af:k"]';
  const before = nodeSeen.get(broker)!();
  const text =
    'POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\n' +
    `Authorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
    `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const answer = parseRawResponse(await exchange(broker.url, text, 'fast'));
  t.same({ status: answer.status, body: answer.body }, { status: 200, body: { result: 'chunked' } });
  t.equal(nodeSeen.get(broker)!() - before, 1, 'served by node:http');
});

/** Upgrades `target` on `url`, asks for af:k over the socket and returns the reply (or the refusal's answer). */
async function wsGet(t: Test, url: string, target: string, path: Path): Promise<unknown> {
  const client = await rawConnect(url);
  t.teardown(() => client.socket.destroy());
  const text = upgrade(target);
  if (path === 'fast') client.socket.write(text);
  else {
    client.socket.write(text.slice(0, 20));
    await sleep(30);
    client.socket.write(text.slice(20));
  }
  await waitFor(() => client.received().includes('\r\n\r\n'));
  const head = client.received();
  if (!head.startsWith('HTTP/1.1 101 ')) {
    await Promise.race([client.closed, sleep(1000)]);
    return parseRawResponse(client.received()).body;
  }
  const start = head.indexOf('\r\n\r\n') + 4;
  client.socket.write(
    frame({ opcode: 1, payload: Buffer.from(JSON.stringify({ id: 1, cmd: ['GET', 'af:k'] })) }),
  );
  const frames = () => serverFrames(Buffer.from(client.received(), 'latin1'), start);
  await waitFor(() => frames().length > 0);
  return JSON.parse(frames()[0]?.payload.toString() ?? 'null');
}

for (const path of ['fast', 'node'] as const) {
  t.test(`${path} path: WebSocket upgrades and SSE in absolute-form`, async (t) => {
    await direct.set('af:k', 'ws');
    const before = nodeSeen.get(broker)!();
    t.same(await wsGet(t, broker.url, `http://example.com/ws?_token=${TOKEN}`, path), {
      id: 1,
      result: 'ws',
    });
    t.equal(nodeSeen.get(broker)!() - before, path === 'fast' ? 0 : 1, `upgraded on the ${path} path`);
    t.match(await wsGet(t, broker.url, `ftp://example.com/ws?_token=${TOKEN}`, path), {
      code: 'SLUICE_ERR_HTTP_BAD_TARGET',
    });
    t.match(await wsGet(t, broker.url, `http://example.com/elsewhere?_token=${TOKEN}`, path), {
      code: 'SLUICE_ERR_HTTP_NOT_FOUND',
    });

    // SSE is always node:http's; `path` only changes how the request arrives.
    const stream = await rawConnect(broker.url);
    t.teardown(() => stream.socket.destroy());
    const request = raw('GET', `http://example.com/subscribe/af-chan-${path}`).replace(
      'Connection: close\r\n',
      '',
    );
    stream.socket.write(request);
    t.ok(await waitFor(() => stream.received().includes('\r\n\r\n')), 'the stream answered');
    t.match(stream.received(), /^HTTP\/1\.1 200 [\s\S]*content-type: text\/event-stream/i);
    const delivered = await waitFor(async () => {
      await direct.publish(`af-chan-${path}`, 'hello-absolute');
      return stream.received().includes('hello-absolute');
    });
    t.ok(delivered, 'a message published on the channel arrives');
  });
}

t.test('SLUICE_BASE_PATH: absolute-form targets under the base path, on both paths', async (t) => {
  await direct.set('af:k', 'based');
  for (const path of ['fast', 'node'] as const) {
    const answers = await served(
      t,
      based,
      [
        raw('POST', 'http://example.com/redis', ['GET', 'af:k']),
        raw('POST', 'http://example.com/redis/', ['GET', 'af:k']),
        raw('POST', 'http://example.com/redis?x=1', ['GET', 'af:k']),
        raw('GET', 'http://example.com/redis/get/af:k'),
      ],
      path,
      'under /redis',
    );
    t.same(answers, Array(4).fill({ status: 200, body: { result: 'based' } }), path);
    for (const outside of [
      'http://example.com/get/af:k',
      'http://example.com',
      'http://example.com/redisx',
    ]) {
      const answer = parseRawResponse(await exchange(based.url, raw('GET', outside), path));
      t.equal(answer.status, 404, `${path}: ${outside}`);
      t.match(answer.body, { code: 'SLUICE_ERR_HTTP_NOT_FOUND' });
    }
    t.same(await wsGet(t, based.url, `http://example.com/redis/ws?_token=${TOKEN}`, path), {
      id: 1,
      result: 'based',
    });
  }
});

t.test('the admin listener reads absolute-form too (a scraper behind a forward proxy)', async (t) => {
  const get = async (target: string) =>
    parseRawResponse(await exchange(broker.adminUrl, raw('GET', target), 'fast'));
  t.match(await get('http://example.com:9190/healthz'), { status: 200, body: { status: 'ok' } });
  t.match(await get('http://example.com/readyz?x'), { status: 200, body: { status: 'ready' } });
  t.match(await get('ftp://example.com/healthz'), {
    status: 400,
    body: { code: 'SLUICE_ERR_HTTP_BAD_TARGET' },
  });
});

const noHaproxy = haproxyPath() === undefined && 'haproxy is not on PATH (.ci/run installs it)';
t.test(
  'through a real haproxy, which forwards absolute-form as the client sent it',
  { skip: noHaproxy },
  async (t) => {
    const proxy = await startHaproxy(broker.url, ['http-reuse always']);
    t.teardown(() => proxy.stop());
    // haproxy refuses an absolute-form target whose authority differs from Host: ask for the Host it is sent.
    const via = (text: string) => text.replace('Host: example.com', 'Host: proxied.example');
    await direct.set('af:k', 'proxied');
    const before = nodeSeen.get(broker)!();
    const answers = [];
    for (const text of [
      raw('POST', 'http://proxied.example/', ['GET', 'af:k']),
      raw('GET', 'http://proxied.example/get/af:k'),
      raw('POST', 'HTTP://proxied.example/pipeline', [['GET', 'af:k']]),
    ]) {
      const answer = parseRawResponse(await exchange(proxy.url, via(text), 'fast'));
      answers.push({ status: answer.status, body: answer.body });
    }
    t.same(answers, [
      { status: 200, body: { result: 'proxied' } },
      { status: 200, body: { result: 'proxied' } },
      { status: 200, body: [{ result: 'proxied' }] },
    ]);
    t.equal(nodeSeen.get(broker)!() - before, 0, 'haproxy kept them plain: all on the fast path');
    const refused = parseRawResponse(
      await exchange(proxy.url, via(raw('GET', 'ftp://proxied.example/')), 'fast'),
    );
    t.match(
      refused,
      { status: 400, body: { code: 'SLUICE_ERR_HTTP_BAD_TARGET' } },
      'the broker refuses, not haproxy',
    );
    t.same(await wsGet(t, proxy.url, `http://example.com/ws?_token=${TOKEN}`, 'fast'), {
      id: 1,
      result: 'proxied',
    });
  },
);
