// A generated corpus of malformed requests and a fixed-seed fuzz: every one gets a 4xx JSON error, never a 5xx.
import fc from 'fast-check';
import t from 'tap';
import { READONLY_TOKEN, TOKEN, startTestBroker } from './helpers/broker.js';
import { call, keepAliveAgent, parseRawResponse, rawExchange } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';

const MAX_BODY_BYTES = 64 * 1024;

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'max-body-bytes': MAX_BODY_BYTES } });
t.teardown(() => broker.close());
const agent = keepAliveAgent(8);
t.teardown(() => agent.destroy());

/** One malformed request sent with node:http. */
interface HttpCase {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

/** Bodies that are malformed for `/`, `/pipeline` and `/multi-exec` alike. */
const BAD_BODIES: [string, string | Buffer][] = [
  ['empty', ''],
  ['open brace', '{'],
  ['open bracket', '['],
  ['null', 'null'],
  ['true', 'true'],
  ['number', '1'],
  ['string', '"GET"'],
  ['object', '{}'],
  ['proto object', '{"__proto__":{"x":1}}'],
  ['empty array', '[]'],
  ['array of null', '[null]'],
  ['array of number', '[1]'],
  ['array of bool', '[true]'],
  ['array of object', '[{}]'],
  ['empty name', '[""]'],
  ['null arg', '["set","k",null]'],
  ['object arg', '["set","k",{}]'],
  ['array arg', '["set","k",["v"]]'],
  ['nested array arg', '["set","k",[["v"]]]'],
  ['nested null in list', '[["set","k",null]]'],
  ['nested object in list', '[["set","k",{"a":1}]]'],
  ['list of empty lists', '[[]]'],
  ['deep nesting 64', deep(64)],
  ['deep nesting 5000', deep(5000)],
  ['deep nesting 200000', deep(200_000)],
  ['deep objects', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)],
  ['huge number', '["set","k",1e400]'],
  ['negative huge number', '["set","k",-1e999]'],
  ['huge number in list', '[["set","k",1e400]]'],
  ['NaN literal', '["set","k",NaN]'],
  ['Infinity literal', '["set","k",Infinity]'],
  ['trailing comma', '["get","k",]'],
  ['unterminated string', '["get","k]'],
  ['extra close', '["get","k"]]'],
  ['two documents', '["get","k"]["get","k"]'],
  ['single quotes', "['get','k']"],
  ['comments', '["get" /* c */, "k"]'],
  ['bom', '\uFEFF["get","k"]'],
  ['control chars', '["get","\u0001\u0002"'],
  ['bad escape', '["get","\\x41"]'],
  ['lone surrogate escape name', '[["\\ud800"]]x'],
  ['invalid utf-8', Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0xc0, 0xaf, 0x22, 0x2c, 0x7b, 0x5d])],
  ['utf-16le json', Buffer.from('["get","k"]', 'utf16le')],
  ['utf-16be json', Buffer.from('\uFEFF["get","k"]', 'utf16le').swap16()],
  ['latin1 bytes', Buffer.from([0x5b, 0xe9, 0x5d])],
  ['nul bytes', Buffer.from([0x5b, 0x00, 0x00, 0x5d])],
  ['base64 body', Buffer.from('["get","k"]').toString('base64')],
  ['form encoded', 'cmd=get&key=k'],
  ['xml', '<cmd>get</cmd>'],
  ['resp', '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'],
  ['oversized body', `["set","k","${'x'.repeat(MAX_BODY_BYTES + 10)}"]`],
];

function corpus(): HttpCase[] {
  const cases: HttpCase[] = [];
  for (const path of ['/', '/pipeline', '/multi-exec'])
    for (const [name, body] of BAD_BODIES) cases.push({ name: `${path} ${name}`, path, body });
  const good = '["get","k"]';
  const headerCases: [string, Record<string, string>, string?][] = [
    ['resp2 + base64', { 'Upstash-Response-Format': 'resp2', 'Upstash-Encoding': 'base64' }],
    ['bad response format', { 'Upstash-Response-Format': 'xml' }],
    ['empty response format', { 'Upstash-Response-Format': '' }],
    ['deadline 0', { 'Sluice-Deadline-Ms': '0' }],
    ['deadline negative', { 'Sluice-Deadline-Ms': '-5' }],
    ['deadline text', { 'Sluice-Deadline-Ms': 'soon' }],
    ['deadline float', { 'Sluice-Deadline-Ms': '1.5' }],
    ['deadline exponent', { 'Sluice-Deadline-Ms': '1e3' }],
    ['deadline huge', { 'Sluice-Deadline-Ms': '99999999999999999999' }],
    ['deadline hex', { 'Sluice-Deadline-Ms': '0x10' }],
    ['deadline empty', { 'Sluice-Deadline-Ms': '' }],
    ['deadline list', { 'Sluice-Deadline-Ms': '10, 20' }],
    ['no auth', { Authorization: '' }],
    ['basic auth', { Authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
    ['bearer without token', { Authorization: 'Bearer' }],
    ['bearer spaces', { Authorization: 'Bearer    ' }],
    ['bearer base64 of token', { Authorization: `Bearer ${Buffer.from(TOKEN).toString('base64')}` }],
    ['bearer latin1', { Authorization: 'Bearer \u00ff\u00fe' }],
    ['bearer token prefix', { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['bearer token suffix', { Authorization: `Bearer ${TOKEN}x` }],
    ['readonly writes', { Authorization: `Bearer ${READONLY_TOKEN}` }, '["set","k","v"]'],
    ['wrong content length ignored', { 'Content-Type': 'text/plain; charset=utf-16' }, '[1]'],
    ['gzip claimed, plain bad body', { 'Content-Encoding': 'gzip' }, '{'],
    ['base64 claimed, bad body', { 'Upstash-Encoding': 'base64' }, '["set","k",null]'],
  ];
  for (const [name, headers, body] of headerCases)
    cases.push({ name: `header: ${name}`, path: '/', headers, body: body ?? good });
  for (const method of ['DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'FOO', 'LOCK', 'PURGE']) {
    cases.push({ name: `method ${method} /`, method, path: '/', body: good });
    cases.push({ name: `method ${method} path`, method, path: '/get/k' });
  }
  for (const method of ['GET', 'PUT'])
    for (const path of ['/pipeline', '/multi-exec'])
      cases.push({ name: `${method} ${path}`, method, path, body: '[["get","k"]]' });
  const paths = [
    '/../../etc/passwd',
    '/..',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/get/%zz',
    '/get/%',
    '/get/%4',
    '/get/k%',
    '/get/%%41',
    '/set/k/v?%zz=1',
    '/set/k/v?EX=%g0',
    '/set/k/v?EX=abc',
    '/get/k/../../x',
    '/get',
    '/set/k',
    '/nosuchcommand/x',
    '/%00/x',
    '/subscribe',
    '/subscribe/',
    '/ws',
    '/select/1',
    '/client/kill/127.0.0.1:1',
    '/multi',
    '/shutdown',
    '/debug/sleep/0',
    '/monitor/x',
  ];
  for (const path of paths) cases.push({ name: `path ${path}`, method: 'GET', path });
  return cases;
}

/** Requests node:http refuses to build: raw bytes on a socket. */
function rawCorpus(): [string, string][] {
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  const body = '["get","k"]';
  return [
    ['garbage request line', 'HELLO WORLD\r\n\r\n'],
    ['http/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['http/0.9', 'GET /\r\n\r\n'],
    ['bad version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['CR in header value', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\rb\r\n\r\n`],
    ['LF-only injection', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\nSet-Cookie: x\r\n\r\n`],
    ['NUL in header', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\u0000b\r\n\r\n`],
    ['space in header name', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}X A: b\r\n\r\n`],
    ['header without colon', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}NoColon\r\n\r\n`],
    ['obs-fold', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\r\n\tfolded\r\n\r\n`],
    [
      'two content-lengths',
      `POST / HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 11\r\nContent-Length: 5\r\n\r\n${body}`,
    ],
    [
      'content-length and chunked',
      `POST / HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 11\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n${body}\r\n0\r\n\r\n`,
    ],
    ['negative content-length', `POST / HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: -1\r\n\r\n${body}`],
    [
      'bad chunk size',
      `POST / HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`,
    ],
    ['gzip transfer-encoding', `POST / HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: gzip\r\n\r\n${body}`],
    ['space in path', `GET /get/a b HTTP/1.1\r\nHost: x\r\n${auth}\r\n`],
    ['non-ascii path', `GET /get/\u00e9\u00ff HTTP/1.1\r\nHost: x\r\n${auth}\r\n`],
    ['CONNECT', `CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: 127.0.0.1:6379\r\n${auth}\r\n`],
    ['oversized header', `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['oversized url', `GET /get/${'k'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`],
    [
      'many large headers',
      `GET /get/k HTTP/1.1\r\nHost: x\r\n${auth}${`X-H: ${'a'.repeat(64)}\r\n`.repeat(400)}\r\n`,
    ],
    [
      'upgrade to unknown path',
      `GET /nope HTTP/1.1\r\nHost: x\r\n${auth}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    ],
    [
      'upgrade without token',
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    ],
    ['upgrade to h2c', `GET / HTTP/1.1\r\nHost: x\r\n${auth}Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n`],
  ];
}

const isErrorBody = (body: unknown): boolean =>
  typeof body === 'object' &&
  body !== null &&
  typeof (body as { error?: unknown }).error === 'string' &&
  typeof (body as { code?: unknown }).code === 'string';

t.test('a corpus of malformed requests: each a 4xx JSON {error, code}', async (t) => {
  const cases = corpus();
  const raw = rawCorpus();
  t.comment(`${cases.length} HTTP cases + ${raw.length} raw-socket cases`);
  t.ok(cases.length + raw.length >= 200, 'at least 200 malformed requests');
  const failures: string[] = [];
  for (const c of cases) {
    const r = await call(broker.url, c.path, c.body, {
      agent,
      ...(c.method ? { method: c.method } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    const ok = r.status >= 400 && r.status < 500 && isErrorBody(r.body);
    if (!ok) failures.push(`${c.name}: ${r.status} ${r.error ?? r.text.slice(0, 120)}`);
  }
  for (const [name, bytes] of raw) {
    const response = parseRawResponse(await rawExchange(broker.url, bytes, 3000));
    const ok = response.status >= 400 && response.status < 500 && isErrorBody(response.body);
    if (!ok)
      failures.push(
        `raw ${name}: ${response.status} ${JSON.stringify(response.body) ?? response.head.slice(0, 80)}`,
      );
  }
  t.same(failures, [], 'every malformed request got a 4xx JSON error');
  const after = await call(broker.url, '/', ['set', 'still', 'alive'], { agent });
  t.same(after.body, { result: 'OK' }, 'the broker still answers');
});

t.test('fuzz: arbitrary JSON bodies and paths never produce a 5xx (fixed seed)', async (t) => {
  const unexpected: string[] = [];
  const check = (what: string, status: number, body: unknown, text: string, method: string) => {
    const fine = (status < 500 || status === 503) && (method === 'HEAD' || body !== undefined);
    if (!fine && unexpected.length < 10) unexpected.push(`${what}: ${status} ${text.slice(0, 120)}`);
    return fine;
  };
  // Path segments: arbitrary strings, percent-encoded as a client would, or with stray % left raw.
  const segment = fc.oneof(
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
    fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s).replace(/%25/g, '%')),
    fc.constantFrom('get', 'set', 'incr', 'hget', 'echo', 'ping', 'del', 'exists', '..', '.', '%', '%zz'),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.record({
          kind: fc.constant('body' as const),
          route: fc.constantFrom('/', '/pipeline', '/multi-exec'),
          body: fc.oneof(
            fc.jsonValue({ maxDepth: 4 }),
            fc.array(
              fc.oneof(fc.constantFrom('echo', 'get', 'exists', 'strlen'), fc.jsonValue({ maxDepth: 2 })),
              { maxLength: 6 },
            ),
          ),
        }),
        fc.record({
          kind: fc.constant('path' as const),
          segments: fc.array(segment, { minLength: 1, maxLength: 5 }),
          method: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE'),
        }),
      ),
      async (input) => {
        if (input.kind === 'body') {
          const r = await call(broker.url, input.route, JSON.stringify(input.body) ?? 'undefined', { agent });
          return check(`${input.route} ${JSON.stringify(input.body)}`, r.status, r.body, r.text, 'POST');
        }
        const path = `/${input.segments.join('/')}`;
        const r = await call(broker.url, path, undefined, { agent, method: input.method });
        return check(`${input.method} ${path}`, r.status, r.body, r.text, input.method);
      },
    ),
    { seed: 42, numRuns: 300 },
  );
  t.same(unexpected, [], 'no 5xx and always a JSON body');
  t.same(
    (await call(broker.url, '/', ['ping'], { agent })).body,
    { result: 'PONG' },
    'the broker still answers',
  );
});
