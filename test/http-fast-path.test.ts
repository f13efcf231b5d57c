// The HTTP fast path over raw sockets: pipelining in order, hand-off to node:http, refusals, drain, timeouts, gone clients.
import { Redis as UpstashRedis } from '@upstash/redis';
import t, { type Test } from 'tap';
import type { Broker } from '../broker/lifecycle/broker.js';
import { READONLY_TOKEN, TOKEN, startTestBroker } from './helpers/broker.js';
import { rawConnect, type RawClient } from './helpers/load.js';
import { blockedClients, startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';

const MAX_BODY_BYTES = 64 * 1024;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, {
  flags: { 'blocking-pool-size': 2, 'blocking-max-ms': 60000, 'max-body-bytes': MAX_BODY_BYTES },
});
t.teardown(() => broker.close());
const direct = redis.client();

/** Requests node:http parsed itself on `b`'s listener: the fast path never emits 'request'. */
function nodeRequestCounter(b: Broker): () => number {
  let count = 0;
  b.server.server.on('request', () => count++);
  return () => count;
}
const nodeRequests = nodeRequestCounter(broker);

// Requests, as raw text.
type Headers = Record<string, string>;
const auth: Headers = { Authorization: `Bearer ${TOKEN}` };

function raw(method: string, target: string, headers: Headers = auth, body?: string): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}
/** POST `path` with a JSON body (one command on `/`, a list on /pipeline and /multi-exec). */
const post = (json: unknown, headers: Headers = auth, path = '/') =>
  raw('POST', path, headers, JSON.stringify(json));
/** The same POST with a chunked body, which the fast path leaves to node:http. */
function chunkedPost(json: unknown, headers: Headers = auth, path = '/'): string {
  const body = JSON.stringify(json);
  const half = body.length >> 1;
  const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
  return (
    raw('POST', path, { ...headers, 'Transfer-Encoding': 'chunked' }) +
    chunk(body.slice(0, half)) +
    chunk(body.slice(half)) +
    '0\r\n\r\n'
  );
}

/** One parsed response: status, headers by lower-case name, the body bytes as text and as JSON. */
interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Header lines as sent, in order. */
  readonly headLines: readonly string[];
  readonly text: string;
  readonly body: unknown;
}

/** Splits what a connection received into complete Content-Length framed responses; `noBody` are HEAD answers. */
function splitAnswers(bytes: Buffer, noBody: ReadonlySet<number>): Answer[] {
  const answers: Answer[] = [];
  let offset = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', offset);
    if (headEnd === -1) return answers;
    const [statusLine, ...headLines] = bytes.toString('latin1', offset, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of headLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = noBody.has(answers.length) ? 0 : Number(headers['content-length'] ?? Number.NaN);
    if (Number.isNaN(length)) throw new Error(`a response without Content-Length: ${statusLine}`);
    const bodyStart = headEnd + 4;
    if (bytes.length < bodyStart + length) return answers;
    const text = bytes.toString('utf8', bodyStart, bodyStart + length);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    answers.push({
      status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]),
      headers,
      headLines,
      text,
      body,
    });
    offset = bodyStart + length;
  }
}

/** A raw client connection that reads responses in order. */
class Connection {
  readonly client: RawClient;
  isClosed = false;
  /** Index of HEAD requests sent, whose answers have no body. */
  readonly #noBody = new Set<number>();
  #sent = 0;

  private constructor(client: RawClient) {
    this.client = client;
    void client.closed.then(() => {
      this.isClosed = true;
    });
  }

  static async open(t: Test, url: string): Promise<Connection> {
    const connection = new Connection(await rawConnect(url));
    t.teardown(() => connection.client.socket.destroy());
    return connection;
  }

  /** Writes requests in one socket write; `count` of them, `head` marking which are HEAD requests. */
  send(bytes: string, count = 1, head: readonly number[] = []): void {
    for (const i of head) this.#noBody.add(this.#sent + i);
    this.#sent += count;
    this.client.socket.write(bytes);
  }

  answers(): Answer[] {
    return splitAnswers(Buffer.from(this.client.received(), 'latin1'), this.#noBody);
  }

  /** Waits for `count` answers in all (or the close, or `ms`), and returns every answer so far. */
  async wait(count: number, ms = 5000): Promise<Answer[]> {
    await waitFor(() => this.answers().length >= count || this.isClosed, ms);
    return this.answers();
  }

  /** Resolves true when the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.client.closed.then(() => true), sleep(ms).then(() => false)]);
  }
}

const bodies = (answers: readonly Answer[]) => answers.map((a) => a.body);

t.test('pipelined requests in one write are answered in order, the slow first one included', async (t) => {
  await direct.set('fp:a', 'alpha');
  const before = nodeRequests();
  const c = await Connection.open(t, broker.url);
  const started = performance.now();
  c.send(
    post(['BLPOP', 'fp:empty', '0.3']) +
      raw('GET', '/get/fp:a') +
      post(
        [
          ['SET', 'fp:b', 'beta'],
          ['GET', 'fp:b'],
        ],
        auth,
        '/pipeline',
      ) +
      raw('PUT', '/set/fp:c', auth, 'gamma') +
      post(['GET', 'fp:a'], { ...auth, 'Upstash-Encoding': 'base64' }) +
      raw('GET', `/echo/fp?_token=${TOKEN}`, {}),
    6,
  );
  const answers = await c.wait(6);
  const ms = performance.now() - started;
  t.same(bodies(answers), [
    { result: null },
    { result: 'alpha' },
    [{ result: 'OK' }, { result: 'beta' }],
    { result: 'OK' },
    { result: Buffer.from('alpha').toString('base64') },
    { result: 'fp' },
  ]);
  t.ok(ms >= 280, `the answers waited for the BLPOP's timeout (${ms.toFixed(0)} ms)`);
  t.equal(await direct.get('fp:c'), 'gamma', 'the PUT body became the last argument');
  for (const [i, answer] of answers.entries()) {
    t.equal(answer.status, 200, `answer ${i}: 200`);
    t.equal(answer.headers['content-type'], 'application/json');
    t.equal(
      Number(answer.headers['content-length']),
      Buffer.byteLength(answer.text),
      `answer ${i}: Content-Length`,
    );
    t.ok(
      Math.abs(Date.parse(answer.headers['date'] ?? '') - Date.now()) < 5000,
      `answer ${i}: a current Date`,
    );
    t.match(answer.headers['upstash-sync-token'], /.+/, `answer ${i}: a sync token`);
    t.equal(answer.headers['connection'], 'keep-alive');
    t.equal(answer.headers['keep-alive'], 'timeout=65', 'SLUICE_HTTP_KEEP_ALIVE_TIMEOUT_MS in seconds');
  }
  t.equal(
    new Set(answers.map((a) => a.headers['upstash-sync-token'])).size,
    answers.length,
    'the sync token changes on every response',
  );
  t.equal(nodeRequests(), before, 'all served by the fast path');
  // The connection stays open and fast for the next request.
  c.send(post(['ECHO', 'again']));
  t.same(bodies(await c.wait(7)).at(-1), { result: 'again' });
  t.equal(nodeRequests(), before);
  t.notOk(c.isClosed);
});

t.test('a thousand pipelined requests in one write, split across TCP reads, answer in order', async (t) => {
  const c = await Connection.open(t, broker.url);
  const count = 1000;
  let bytes = '';
  for (let i = 0; i < count; i++) bytes += post(['ECHO', `m${i}-${'x'.repeat(i % 50)}`]);
  c.send(bytes, count);
  const answers = await c.wait(count, 15000);
  t.equal(answers.length, count);
  const wrong = answers.filter(
    (a, i) => (a.body as { result?: unknown }).result !== `m${i}-${'x'.repeat(i % 50)}`,
  );
  t.same(wrong.slice(0, 3), [], 'every answer is its own request, in order');
  c.send(post(['ECHO', 'after']));
  t.same(bodies(await c.wait(count + 1)).at(-1), { result: 'after' }, 'the connection still serves');
});

t.test(
  'a connection handed to node:http mid-stream answers every request in order, loses no byte',
  async (t) => {
    await t.test('chunked request between plain ones, all in one write', async (t) => {
      const before = nodeRequests();
      const c = await Connection.open(t, broker.url);
      c.send(
        post(['SET', 'fp:h', '1']) +
          chunkedPost(['INCR', 'fp:h']) +
          post(['GET', 'fp:h']) +
          raw('GET', '/incr/fp:h'),
        4,
      );
      const answers = await c.wait(4);
      t.same(bodies(answers), [{ result: 'OK' }, { result: 2 }, { result: '2' }, { result: 3 }]);
      t.equal(nodeRequests() - before, 3, 'node:http served the chunked request and everything after it');
      // The connection is node's for good: a later plain request is node's too, and still answered.
      c.send(raw('GET', '/get/fp:h'));
      t.same(bodies(await c.wait(5)).at(-1), { result: '3' });
      t.equal(nodeRequests() - before, 4);
      for (const answer of answers) t.equal(answer.headers['connection'], 'keep-alive');
    });

    await t.test('the hand-off waits for a slow fast-path answer before node:http writes', async (t) => {
      const before = nodeRequests();
      const c = await Connection.open(t, broker.url);
      const started = performance.now();
      c.send(
        post(['BLPOP', 'fp:nothing', '0.3']) +
          post(['ECHO', 'fast']) +
          chunkedPost(['ECHO', 'chunked']) +
          post(['ECHO', 'tail']),
        4,
      );
      const answers = await c.wait(4);
      t.same(bodies(answers), [
        { result: null },
        { result: 'fast' },
        { result: 'chunked' },
        { result: 'tail' },
      ]);
      t.ok(performance.now() - started >= 280, 'the BLPOP ran its 0.3 s');
      t.equal(nodeRequests() - before, 2);
    });

    await t.test('a non-plain request in a later write, after the first answers went out', async (t) => {
      const before = nodeRequests();
      const c = await Connection.open(t, broker.url);
      c.send(post(['ECHO', 'one']) + post(['ECHO', 'two']), 2);
      t.same(bodies(await c.wait(2)), [{ result: 'one' }, { result: 'two' }]);
      t.equal(nodeRequests(), before);
      c.send(chunkedPost(['ECHO', 'three'], auth, '/') + post([['ECHO', 'four']], auth, '/pipeline'), 2);
      t.same(bodies(await c.wait(4)).slice(2), [{ result: 'three' }, [{ result: 'four' }]]);
      t.equal(nodeRequests() - before, 2);
    });

    await t.test('an SSE stream after fast requests', async (t) => {
      const c = await Connection.open(t, broker.url);
      c.send(post(['ECHO', 'before']));
      t.same(bodies(await c.wait(1)), [{ result: 'before' }]);
      c.send(raw('GET', '/subscribe/fp-channel'));
      t.ok(await waitFor(() => c.client.received().includes('text/event-stream')), 'the stream opened');
      t.ok(
        await waitFor(async () => {
          await direct.publish('fp-channel', 'hello-fast');
          return c.client.received().includes('hello-fast');
        }),
        'a published message arrives on the handed-off connection',
      );
    });
  },
);

t.test('a request split across writes is answered', async (t) => {
  await t.test('headers, then the body 50 ms later', async (t) => {
    const before = nodeRequests();
    const c = await Connection.open(t, broker.url);
    const request = post(['SET', 'fp:split', 'whole']);
    const cut = request.indexOf('\r\n\r\n') + 4;
    c.send(request.slice(0, cut));
    await sleep(50);
    c.client.socket.write(request.slice(cut));
    t.same(bodies(await c.wait(1)), [{ result: 'OK' }]);
    t.equal(await direct.get('fp:split'), 'whole');
    t.equal(nodeRequests() - before, 1, 'node:http read the split request');
  });

  await t.test('a complete request and half of the next, then the rest', async (t) => {
    const c = await Connection.open(t, broker.url);
    c.send(post(['ECHO', 'warm']));
    t.same(bodies(await c.wait(1)), [{ result: 'warm' }]);
    const second = post(['ECHO', 'second']);
    const cut = second.indexOf('Authorization') + 5;
    c.send(post(['ECHO', 'first']) + second.slice(0, cut), 2);
    await sleep(50);
    c.client.socket.write(second.slice(cut) + post(['ECHO', 'third']));
    t.same(bodies(await c.wait(4)), [
      { result: 'warm' },
      { result: 'first' },
      { result: 'second' },
      { result: 'third' },
    ]);
  });

  await t.test('a request trickled in five pieces', async (t) => {
    const c = await Connection.open(t, broker.url);
    const request = post(['ECHO', 'trickled'.repeat(4)]);
    const step = Math.ceil(request.length / 5);
    for (let i = 0; i < request.length; i += step) {
      c.client.socket.write(request.slice(i, i + step));
      await sleep(20);
    }
    t.same(bodies(await c.wait(1)), [{ result: 'trickled'.repeat(4) }]);
  });
});

t.test('refusals on a fast connection are node:http answers, and it serves on', async (t) => {
  await direct.set('fp:ro', 'alpha');
  const cases: [string, string, number, string | undefined, boolean?][] = [
    [
      'a wrong token',
      raw('GET', '/get/fp:ro', { Authorization: 'Bearer not-a-token' }),
      401,
      'SLUICE_ERR_AUTH_INVALID',
    ],
    ['no token', raw('GET', '/get/fp:ro', {}), 401, 'SLUICE_ERR_AUTH_MISSING'],
    ['a wrong ?_token=', raw('GET', '/get/fp:ro?_token=nope', {}), 401, 'SLUICE_ERR_AUTH_INVALID'],
    ['GET /pipeline', raw('GET', '/pipeline'), 405, 'SLUICE_ERR_HTTP_METHOD'],
    ['PUT /multi-exec', raw('PUT', '/multi-exec', auth, '[]'), 405, 'SLUICE_ERR_HTTP_METHOD'],
    ['DELETE /', raw('DELETE', '/'), 405, 'SLUICE_ERR_HTTP_METHOD'],
    ['GET /ws without an upgrade', raw('GET', '/ws'), 400, 'SLUICE_ERR_HTTP_BAD_HEADER'],
    [
      'a body over SLUICE_MAX_BODY_BYTES',
      post(['ECHO', 'x'.repeat(MAX_BODY_BYTES)]),
      413,
      'SLUICE_ERR_HTTP_BODY_TOO_LARGE',
    ],
    ['HEAD', raw('HEAD', '/get/fp:ro'), 200, undefined, true],
  ];
  for (const [name, request, status, code, head] of cases) {
    const before = nodeRequests();
    const c = await Connection.open(t, broker.url);
    c.send(post(['ECHO', 'fast']));
    t.same(bodies(await c.wait(1)), [{ result: 'fast' }], `${name}: first a fast request`);
    t.equal(nodeRequests(), before, `${name}: served fast`);
    c.send(request + post(['ECHO', 'after']), 2, head ? [0] : []);
    const answers = await c.wait(3, 10000);
    const refused = answers[1];
    t.equal(refused?.status, status, `${name}: ${status}`);
    if (code) t.match(refused?.body, { code, error: String }, `${name}: ${code}`);
    if (status === 405) t.equal(refused?.headers['allow'], 'GET, HEAD, POST, PUT', `${name}: Allow`);
    if (head) {
      t.equal(
        refused?.headers['content-length'],
        String('{"result":"alpha"}'.length),
        'HEAD: the GET length',
      );
      t.equal(refused?.text, '', 'HEAD: no body');
    }
    t.match(refused?.headers['upstash-sync-token'], /.+/, `${name}: a sync token`);
    t.same(answers[2]?.body, { result: 'after' }, `${name}: the next request is answered`);
    t.equal(nodeRequests() - before, 2, `${name}: node:http answered the refusal and what followed`);
  }
});

t.test('every request on a connection is authorised by its own token', async (t) => {
  const before = nodeRequests();
  const c = await Connection.open(t, broker.url);
  const readOnly = { Authorization: `Bearer ${READONLY_TOKEN}` };
  c.send(
    post(['SET', 'fp:tok', 'admin']) +
      post(['SET', 'fp:tok', 'reader'], readOnly) +
      raw('GET', `/get/fp:tok?_token=${READONLY_TOKEN}`, {}) +
      raw('GET', `/set/fp:tok/query?_token=${READONLY_TOKEN}`, {}) +
      post(['SET', 'fp:tok', 'admin-again']),
    5,
  );
  const answers = await c.wait(5);
  t.same(
    answers.map((a) => [a.status, (a.body as { code?: string; result?: unknown }).code ?? a.body]),
    [
      [200, { result: 'OK' }],
      [400, 'SLUICE_ERR_AUTH_NOPERM'],
      [200, { result: 'admin' }],
      [400, 'SLUICE_ERR_AUTH_NOPERM'],
      [200, { result: 'OK' }],
    ],
  );
  t.equal(await direct.get('fp:tok'), 'admin-again');
  t.equal(nodeRequests(), before, 'all on the fast path');
  c.send(
    post(['SET', 'fp:tok', 'nobody'], { Authorization: 'Bearer wrong' }) + post(['GET', 'fp:tok'], readOnly),
    2,
  );
  t.same(
    (await c.wait(7))
      .slice(5)
      .map((a) => [a.status, (a.body as { code?: string; result?: unknown }).code ?? a.body]),
    [
      [401, 'SLUICE_ERR_AUTH_INVALID'],
      [200, { result: 'admin-again' }],
    ],
    'a wrong token after good ones is refused',
  );
});

t.test('the fast path and node:http answer the same request with the same bytes', async (t) => {
  await direct.set('fp:same', 'v\u00e9');
  // A duplicated custom header makes the fast path leave a request to node:http, and changes nothing else.
  const viaNode: Headers = { 'X-Twice': '1\r\nX-Twice: 1' };
  const requests: [string, (extra: Headers) => string][] = [
    ['GET path style', (h) => raw('GET', '/get/fp:same', { ...auth, ...h })],
    ['POST / base64', (h) => post(['GET', 'fp:same'], { ...auth, 'Upstash-Encoding': 'base64', ...h })],
    ['POST / resp2', (h) => post(['GET', 'fp:same'], { ...auth, 'Upstash-Response-Format': 'resp2', ...h })],
    ['POST /pipeline', (h) => post([['GET', 'fp:same'], ['NOSUCHCMD']], { ...auth, ...h }, '/pipeline')],
    ['POST /multi-exec', (h) => post([['GET', 'fp:same']], { ...auth, ...h }, '/multi-exec')],
    ['a Redis error', (h) => post(['INCR', 'fp:same'], { ...auth, ...h })],
    ['bad JSON', (h) => raw('POST', '/', { ...auth, ...h }, '[')],
    ['an empty body', (h) => raw('POST', '/', { ...auth, ...h }, '')],
    [
      'NOPERM for the read-only token',
      (h) => post(['SET', 'fp:same', 'x'], { Authorization: `Bearer ${READONLY_TOKEN}`, ...h }),
    ],
    ['a bad Sluice-Deadline-Ms', (h) => post(['PING'], { ...auth, 'Sluice-Deadline-Ms': '-1', ...h })],
    [
      'a bad Upstash-Response-Format',
      (h) => post(['PING'], { ...auth, 'Upstash-Response-Format': 'xml', ...h }),
    ],
    ['an unknown command', (h) => raw('GET', '/nosuchcommand/x', { ...auth, ...h })],
  ];
  const before = nodeRequests();
  const fast = await Connection.open(t, broker.url);
  for (const [, request] of requests) fast.send(request({}));
  const fastAnswers = await fast.wait(requests.length);
  t.equal(nodeRequests(), before, 'the first connection was all fast');
  const node = await Connection.open(t, broker.url);
  for (const [, request] of requests) node.send(request(viaNode));
  const nodeAnswers = await node.wait(requests.length);
  t.equal(nodeRequests() - before, requests.length, 'the second was all node:http');
  const comparable = (a: Answer | undefined) => ({
    status: a?.status,
    text: a?.text,
    headLines: a?.headLines.map((line) => line.replace(/^(Date|upstash-sync-token): .*/, '$1: *')),
  });
  for (const [i, [name]] of requests.entries())
    t.same(comparable(fastAnswers[i]), comparable(nodeAnswers[i]), name);
  t.ok(
    fastAnswers.some((a) => a.status >= 400) && fastAnswers.some((a) => a.status === 200),
    'errors and results',
  );
});

t.test('Connection: close is answered, then the server closes the socket', async (t) => {
  const before = nodeRequests();
  const c = await Connection.open(t, broker.url);
  c.send(post(['ECHO', 'kept']) + raw('GET', '/echo/last', { ...auth, Connection: 'close' }), 2);
  const answers = await c.wait(2);
  t.same(bodies(answers), [{ result: 'kept' }, { result: 'last' }]);
  t.equal(answers[0]?.headers['connection'], 'keep-alive');
  t.equal(answers[1]?.headers['connection'], 'close');
  t.ok(await c.closedWithin(2000), 'the server closed the connection');
  t.equal(nodeRequests() - before, 0, 'both on the fast path');
});

// RFC 9112 §9.6: the server closes after answering the request that said `close` and processes nothing after it.
// (node:http's parser instead fails the connection with a 400 HPE_CLOSED_CONNECTION and answers neither.)
t.test('after a Connection: close request, what the client sent is ignored', async (t) => {
  const c = await Connection.open(t, broker.url);
  c.send(raw('GET', '/echo/last', { ...auth, Connection: 'close' }) + post(['ECHO', 'ignored']), 1);
  const answers = await c.wait(1);
  t.same(bodies(answers), [{ result: 'last' }], 'the close request is answered');
  t.equal(answers[0]?.headers['connection'], 'close', 'with Connection: close');
  t.notOk('keep-alive' in (answers[0]?.headers ?? {}), 'and no Keep-Alive header');
  t.ok(await c.closedWithin(2000), 'then the server closed the connection');
  t.equal(c.answers().length, 1, 'the request sent after it was not answered');
});

t.test('a client that does not read its answers gets no more requests served until it does', async (t) => {
  const VALUE_BYTES = 512 * 1024;
  const REQUESTS = 80;
  await direct.set('fp:big', 'x'.repeat(VALUE_BYTES));
  const calls = async () =>
    Number(/cmdstat_get:calls=(\d+)/.exec((await direct.info('commandstats')) as string)?.[1] ?? 0);
  const before = await calls();
  const c = await Connection.open(t, broker.url);
  c.client.socket.pause();
  // One request per write, as a client that keeps sending would; each answer is half a megabyte.
  for (let i = 0; i < REQUESTS; i++) {
    c.client.socket.write(raw('GET', '/get/fp:big'));
    await sleep(5);
  }
  await sleep(300);
  const executed = (await calls()) - before;
  t.comment(`${executed} of ${REQUESTS} GETs ran while the client read nothing`);
  // Without backpressure all of them run; with it, as many as the socket buffers hold (a few MB here).
  t.ok(executed <= REQUESTS - 20, 'the broker stopped reading requests once its answers backed up');
  c.client.socket.resume();
  let received = 0;
  c.client.socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  // Generous bounds: this asserts that everything is served once read, not how fast (40 MB on a loaded machine).
  t.ok(await waitFor(() => received >= REQUESTS * VALUE_BYTES, 60_000), 'once read, every request is served');
  // The count above leaves the heads out: wait for the last of them too.
  const answers = await c.wait(REQUESTS, 30_000);
  t.equal(answers.length, REQUESTS);
  t.ok(
    answers.every((a) => a.text.length === VALUE_BYTES + '{"result":""}'.length),
    'each answer is whole',
  );
  t.equal((await calls()) - before, REQUESTS);
});

t.test('a client that half-closes during a BLPOP is gone: its blocking connection is freed', async (t) => {
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 0), 'nothing blocked to begin with');
  const c = await Connection.open(t, broker.url);
  c.send(post(['ECHO', 'fast']));
  await c.wait(1);
  c.send(post(['BLPOP', 'fp:gone', '5']));
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 1), 'the BLPOP blocks in Redis');
  t.equal(broker.blockingPool.stats().busy, 1);
  const ended = performance.now();
  c.client.socket.end();
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 0, 2000), 'Redis no longer blocks it');
  t.ok(await waitFor(() => broker.blockingPool.stats().busy === 0, 2000), 'the blocking connection is free');
  t.ok(performance.now() - ended < 2000, 'freed at once, not at the 5 s timeout');
  t.ok(await c.closedWithin(2000), 'the server closed its side too');
  await direct.lpush('fp:gone', 'kept');
  await sleep(50);
  t.equal(await direct.llen('fp:gone'), 1, 'the abandoned BLPOP took nothing');
  t.equal(c.answers().length, 1, 'no answer was written for the abandoned request');
});

t.test('draining: in-flight answers say Connection: close, idle connections close at once', async (t) => {
  const draining = await startTestBroker(redis.url, { flags: { 'drain-timeout-ms': 5000 } });
  t.teardown(() => draining.close());
  const blocked = await Connection.open(t, draining.url);
  blocked.send(post(['ECHO', 'warm']));
  await blocked.wait(1);
  blocked.send(post(['BLPOP', 'fp:drain', '0.5']));
  const pipelined = await Connection.open(t, draining.url);
  pipelined.send(
    post(['BLPOP', 'fp:drain2', '0.5']) + post(['INCR', 'fp:drained']) + post(['ECHO', 'third']),
    3,
  );
  // The same through node:http (chunked bodies are not the fast path's).
  const nodePipelined = await Connection.open(t, draining.url);
  nodePipelined.send(
    chunkedPost(['BLPOP', 'fp:drain3', '0.5']) +
      chunkedPost(['INCR', 'fp:drained-node']) +
      chunkedPost(['ECHO', 'third']),
    3,
  );
  const idle = await Connection.open(t, draining.url);
  idle.send(post(['ECHO', 'idle']));
  await idle.wait(1);
  const silent = await Connection.open(t, draining.url);
  const handedOff = await Connection.open(t, draining.url);
  handedOff.send(chunkedPost(['ECHO', 'node']));
  await handedOff.wait(1);
  t.ok(await waitFor(async () => (await blockedClients(direct)) === 3), 'the three BLPOPs block');
  t.ok(await waitFor(async () => (await direct.get('fp:drained')) === '1'), 'the pipelined INCR ran');
  t.ok(
    await waitFor(async () => (await direct.get('fp:drained-node')) === '1'),
    'the INCR pipelined through node:http ran',
  );
  // A write held by Redis keeps the drain going for 1.5 s, longer than idle connections may stay.
  await direct.call('CLIENT', 'PAUSE', '1500', 'WRITE');
  const slow = await Connection.open(t, draining.url);
  slow.send(post(['SET', 'fp:slow', 'v']));
  await sleep(100);
  const started = performance.now();
  const closing = draining.close();
  const [idleClosed, silentClosed, handedOffClosed] = await Promise.all(
    [idle, silent, handedOff].map((c) => c.closedWithin(500)),
  );
  t.ok(idleClosed, 'an idle fast connection is closed at once');
  t.ok(silentClosed, 'a connection that sent nothing is closed at once');
  t.ok(handedOffClosed, 'an idle node:http connection is closed at once');
  t.notOk(slow.isClosed, 'the connection with a write in flight is still open');
  slow.send(post(['SET', 'fp:late', 'v']));

  t.ok(await blocked.closedWithin(3000), 'the blocked connection closes after its answer');
  const answers = blocked.answers();
  t.same(bodies(answers), [{ result: 'warm' }, { result: null }], 'the in-flight BLPOP got its answer');
  t.equal(answers[1]?.headers['connection'], 'close', 'with Connection: close');
  t.equal(answers[1]?.headers['keep-alive'], undefined);

  t.ok(await pipelined.closedWithin(3000), 'the pipelining connection closes after its answers');
  const piped = pipelined.answers();
  t.same(
    bodies(piped),
    [{ result: null }, { result: 1 }, { result: 'third' }],
    'every request that ran was answered',
  );
  t.same(
    piped.map((a) => a.headers['connection']),
    ['keep-alive', 'keep-alive', 'close'],
    'only the last answer says Connection: close',
  );

  t.ok(
    await nodePipelined.closedWithin(3000),
    'the node:http pipelining connection closes after its answers',
  );
  const nodePiped = nodePipelined.answers();
  t.same(
    bodies(nodePiped),
    [{ result: null }, { result: 1 }, { result: 'third' }],
    'every request that ran through node:http was answered',
  );
  // node:http fixes an answer's headers when the handler ends it, even while it waits behind the BLPOP: here the
  // last answer was complete before the drain began, so it cannot say close; none before it may.
  t.same(
    nodePiped.slice(0, -1).map((a) => a.headers['connection']),
    ['keep-alive', 'keep-alive'],
    'no node:http answer before the last says Connection: close',
  );

  t.ok(await slow.closedWithin(3000), 'the slow connection closes after its answer');
  t.ok(performance.now() - started >= 1000, 'which waited for Redis');
  t.same(bodies(slow.answers()), [{ result: 'OK' }]);
  t.equal(slow.answers()[0]?.headers['connection'], 'close');
  await closing;
  t.equal(await direct.exists('fp:late'), 0, 'a request sent after the drain began was not run');
});

t.test(
  'the keep-alive timeout closes an idle fast connection, never one with a request in flight',
  async (t) => {
    const KEEP_ALIVE_MS = 300;
    // Longer than the keep-alive timeout: an idle connection must be closed by the latter.
    const HEADERS_MS = 800;
    const short = await startTestBroker(redis.url, {
      flags: { 'http-keep-alive-timeout-ms': KEEP_ALIVE_MS, 'http-headers-timeout-ms': HEADERS_MS },
    });
    t.teardown(() => short.close());
    const shortRequests = nodeRequestCounter(short);

    const idle = await Connection.open(t, short.url);
    idle.send(post(['ECHO', 'once']));
    await idle.wait(1);
    const answered = performance.now();
    t.ok(await idle.closedWithin(HEADERS_MS - 100), 'closed by the server after the keep-alive timeout');
    const idleMs = performance.now() - answered;
    t.ok(idleMs >= KEEP_ALIVE_MS - 50, `not before the keep-alive timeout (${idleMs.toFixed(0)} ms)`);

    const slow = await Connection.open(t, short.url);
    slow.send(post(['ECHO', 'once']));
    await slow.wait(1);
    slow.send(post(['BLPOP', 'fp:ka', '0.8']));
    const answers = await slow.wait(2);
    t.same(bodies(answers), [{ result: 'once' }, { result: null }], 'the 0.8 s BLPOP was answered');
    t.equal(answers[1]?.headers['connection'], 'keep-alive');
    const slowAnswered = performance.now();
    t.ok(await slow.closedWithin(HEADERS_MS - 100), 'then the idle connection is closed');
    t.ok(performance.now() - slowAnswered >= KEEP_ALIVE_MS - 50, 'a keep-alive timeout after the answer');

    // A connection that never sends a request gets node:http's 408 after the headers timeout.
    const silent = await Connection.open(t, short.url);
    const opened = performance.now();
    t.ok(await silent.closedWithin(5000), 'a silent connection is closed');
    const silentMs = performance.now() - opened;
    t.comment(`a silent connection got its 408 after ${silentMs.toFixed(0)} ms`);
    t.ok(silentMs >= HEADERS_MS - 50, `not before the headers timeout (${silentMs.toFixed(0)} ms)`);
    const timeout = silent.answers()[0];
    t.equal(timeout?.status, 408);
    t.match(timeout?.body, { code: 'SLUICE_ERR_HTTP_TIMEOUT' });
    t.equal(shortRequests(), 0, 'no request reached node:http');
  },
);

t.test('@upstash/redis works through the fast path', async (t) => {
  const before = nodeRequests();
  const sdk = new UpstashRedis({ url: broker.url, token: TOKEN, enableTelemetry: false });
  await sdk.set('fp:sdk', { a: 1 });
  t.same(await sdk.get('fp:sdk'), { a: 1 });
  const pipe = sdk.pipeline();
  pipe.incr('fp:sdk-n');
  pipe.incr('fp:sdk-n');
  t.same(await pipe.exec(), [1, 2]);
  t.same(await sdk.multi().set('fp:sdk-m', 'x').get('fp:sdk-m').exec(), ['OK', 'x']);
  t.equal(nodeRequests(), before, 'every SDK request took the fast path');
});
