// The REST wire details of docs/rest-api.md, over raw HTTP: routes, methods, encodings, status codes, limits.
import { request } from 'node:http';
import t from 'tap';
import { post, READONLY_TOKEN, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'max-body-bytes': 4096 } });
t.teardown(() => broker.close());
const auth = { Authorization: `Bearer ${TOKEN}` };

async function get(path: string, headers: Record<string, string> = auth, method = 'GET') {
  const response = await fetch(broker.url + path, { method, headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? JSON.parse(text) : undefined,
  };
}

function rawGet(path: string): Promise<unknown> {
  const url = new URL(broker.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: auth }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test(
  'base64 encoding: top-level OK plain, other strings and everything inside arrays base64',
  async (t) => {
    const b64 = { 'Upstash-Encoding': 'BASE64' };
    t.same((await post(broker.url, '/', ['set', 'e', 'bar'], b64)).body, { result: 'OK' });
    t.same((await post(broker.url, '/', ['get', 'e'], b64)).body, {
      result: Buffer.from('bar').toString('base64'),
    });
    t.same((await post(broker.url, '/', ['ping'], b64)).body, {
      result: Buffer.from('PONG').toString('base64'),
    });
    t.same((await post(broker.url, '/', ['type', 'e'], b64)).body, {
      result: Buffer.from('string').toString('base64'),
    });
    const ok = Buffer.from('OK').toString('base64');
    t.same(
      (await post(broker.url, '/', ['eval', "return {'OK', 1, redis.status_reply('OK')}", '0'], b64)).body,
      { result: [ok, 1, ok] },
    );
    t.same(
      (
        await post(
          broker.url,
          '/pipeline',
          [
            ['set', 'e', 'v'],
            ['get', 'e'],
          ],
          b64,
        )
      ).body,
      [{ result: 'OK' }, { result: 'dg==' }],
    );
  },
);

t.test('binary values: exact bytes with base64, U+FFFD without', async (t) => {
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
  const set = await fetch(`${broker.url}/set/bin`, { method: 'POST', headers: auth, body: bytes });
  t.equal(set.status, 200);
  t.same((await post(broker.url, '/', ['get', 'bin'], { 'Upstash-Encoding': 'base64' })).body, {
    result: bytes.toString('base64'),
  });
  t.same((await post(broker.url, '/', ['get', 'bin'])).body, { result: '\ufffd\u0000\ufffdA' });
});

t.test('numbers and booleans become their JSON text; null and nesting are refused', async (t) => {
  t.same((await post(broker.url, '/', ['set', 'num', 1e21])).body, { result: 'OK' });
  t.same((await post(broker.url, '/', ['get', 'num'])).body, { result: '1e+21' });
  t.same((await post(broker.url, '/', ['set', 'bool', true])).body, { result: 'OK' });
  t.same((await post(broker.url, '/', ['get', 'bool'])).body, { result: 'true' });
  for (const body of [['set', 'k', null], ['set', ['k']], [], {}, 'nope', [1, 2]]) {
    const res = await post(broker.url, '/', body);
    t.equal(res.status, 400, JSON.stringify(body));
    t.match(res.body, { code: /^SLUICE_ERR_REQUEST_BAD_(COMMAND|JSON)$/ });
  }
  const bad = await post(broker.url, '/', '{not json');
  t.same([bad.status, (bad.body as { code: string }).code], [400, 'SLUICE_ERR_REQUEST_BAD_JSON']);
});

t.test('path style: segments, body, then query; _token dropped; percent-decoding', async (t) => {
  const set = await fetch(`${broker.url}/set/p%20k?EX=100&_token=${TOKEN}`, {
    method: 'POST',
    body: 'hello world',
  });
  t.same(await set.json(), { result: 'OK' });
  t.same((await get('/get/p%20k')).body, { result: 'hello world' });
  const ttl = (await get('/ttl/p%20k')).body as { result: number };
  t.ok(ttl.result > 90 && ttl.result <= 100);
  t.same((await get('/set/plus/a+b')).body, { result: 'OK' });
  t.same((await get('/get/plus')).body, { result: 'a+b' });
  t.same((await get('/set/nx-key/1?NX')).body, { result: 'OK' });
  t.same((await get('/set/nx-key/2?NX')).body, { result: null });
  // fetch would resolve dot segments itself; a raw request sends them as they are.
  t.same(await rawGet('/set/../..'), { result: 'OK' }, '.. is just an argument');
  t.same(await rawGet('/get/..'), { result: '..' });
  const bad = await get('/get/%zz');
  t.same([bad.status, bad.body.code], [400, 'SLUICE_ERR_HTTP_BAD_PATH']);
  const put = await fetch(`${broker.url}/set/put-key`, {
    method: 'PUT',
    headers: auth,
    body: '{"json":true}',
  });
  t.same(await put.json(), { result: 'OK' });
  t.same((await get('/get/put-key')).body, { result: '{"json":true}' });
});

t.test('HEAD answers headers only', async (t) => {
  const head = await fetch(`${broker.url}/get/plus`, { method: 'HEAD', headers: auth });
  t.equal(head.status, 200);
  t.equal(head.headers.get('content-type'), 'application/json');
  t.ok(head.headers.get('upstash-sync-token'));
  t.equal(await head.text(), '');
});

t.test('methods: 405 with Allow and JSON', async (t) => {
  for (const method of ['DELETE', 'PATCH', 'OPTIONS']) {
    const res = await get('/get/k', auth, method);
    t.equal(res.status, 405, method);
    t.equal(res.headers.get('allow'), 'GET, HEAD, POST, PUT');
    t.equal(res.body.code, 'SLUICE_ERR_HTTP_METHOD');
  }
  const getPipeline = await get('/pipeline');
  t.equal(getPipeline.status, 405, '/pipeline is POST only');
});

t.test('auth: 401 JSON for missing and wrong tokens, Bearer and _token accepted', async (t) => {
  const missing = await get('/get/k', {});
  t.same([missing.status, missing.body.code], [401, 'SLUICE_ERR_AUTH_MISSING']);
  t.ok(missing.headers.get('upstash-sync-token'), 'sync token on errors too');
  const wrong = await get('/get/k', { Authorization: 'Bearer nope' });
  t.same([wrong.status, wrong.body.code], [401, 'SLUICE_ERR_AUTH_INVALID']);
  t.equal((await get(`/get/k?_token=${TOKEN}`, {})).status, 200);
  t.equal(
    (await get('/get/k', { Authorization: `bearer ${TOKEN}` })).status,
    200,
    'scheme is case-insensitive',
  );
});

t.test('read-only token: reads pass, writes get NOPERM per item', async (t) => {
  const ro = { Authorization: `Bearer ${READONLY_TOKEN}` };
  t.equal((await post(broker.url, '/', ['get', 'k'], ro)).status, 200);
  t.equal((await post(broker.url, '/', ['ping'], ro)).status, 200);
  const write = await post(broker.url, '/', ['set', 'k', 'v'], ro);
  t.same(write.body, {
    error: "NOPERM this user has no permissions to run the 'set' command",
    code: 'SLUICE_ERR_AUTH_NOPERM',
  });
  const mixed = await post(
    broker.url,
    '/pipeline',
    [
      ['get', 'k'],
      ['del', 'k'],
      ['exists', 'k'],
    ],
    ro,
  );
  t.equal(mixed.status, 200);
  t.match(mixed.body, [{ result: null }, { code: 'SLUICE_ERR_AUTH_NOPERM' }, { result: 0 }]);
  const sub = await post(broker.url, '/', ['config', 'set', 'maxmemory', '0'], ro);
  t.same(
    sub.body,
    {
      error: "NOPERM this user has no permissions to run the 'config|set' command",
      code: 'SLUICE_ERR_AUTH_NOPERM',
    },
    'a subcommand is named as Redis names it',
  );
});

t.test('body limit: 413 JSON naming the setting, without resetting the upload', async (t) => {
  const res = await post(broker.url, '/', JSON.stringify(['set', 'k', 'x'.repeat(10_000)]));
  t.equal(res.status, 413);
  t.equal((res.body as { code: string }).code, 'SLUICE_ERR_HTTP_BODY_TOO_LARGE');
  t.match((res.body as { error: string }).error, /SLUICE_MAX_BODY_BYTES/);
});

t.test('pipeline: 200, in order, per-item errors; empty pipeline refused', async (t) => {
  const res = await post(broker.url, '/pipeline', [
    ['set', 'pp', 'a'],
    ['incr', 'pp'],
    ['append', 'pp', 'b'],
    ['get', 'pp'],
  ]);
  t.equal(res.status, 200);
  t.match(res.body, [{ result: 'OK' }, { error: /not an integer/ }, { result: 2 }, { result: 'ab' }]);
  t.equal((await post(broker.url, '/pipeline', [])).status, 400);
  t.equal(
    (await post(broker.url, '/pipeline', ['get', 'k'])).status,
    400,
    'a command is not a list of commands',
  );
});

t.test('multi-exec: atomic results, runtime errors per item, EXECABORT as one 400', async (t) => {
  const ok = await post(broker.url, '/multi-exec', [
    ['set', 'm', 'a'],
    ['incr', 'm'],
    ['get', 'm'],
  ]);
  t.equal(ok.status, 200);
  t.match(ok.body, [{ result: 'OK' }, { error: /not an integer/ }, { result: 'a' }]);
  const aborted = await post(broker.url, '/multi-exec', [
    ['set', 'm', 'b'],
    ['set', 'm'],
  ]);
  t.equal(aborted.status, 400);
  t.match(aborted.body, { error: /wrong number of arguments/ });
  t.same(
    (await post(broker.url, '/', ['get', 'm'])).body,
    { result: 'a' },
    'nothing of the discarded transaction ran',
  );
  const refused = await post(broker.url, '/multi-exec', [
    ['set', 'm', 'c'],
    ['select', '1'],
  ]);
  t.same([refused.status, (refused.body as { code: string }).code], [400, 'SLUICE_ERR_COMMAND_REFUSED']);
});

t.test('concurrent transactions never nest (MULTI…EXEC is one contiguous block)', async (t) => {
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      post(broker.url, '/multi-exec', [
        ['incr', 'tx-count'],
        ['set', `tx-${i}`, i],
        ['get', `tx-${i}`],
      ]),
    ),
  );
  t.ok(
    results.every((r) => r.status === 200),
    'all 200',
  );
  t.same((await post(broker.url, '/', ['get', 'tx-count'])).body, { result: '200' });
});

t.test('refused commands say what to use instead', async (t) => {
  for (const cmd of [
    ['select', '1'],
    ['multi'],
    ['subscribe', 'ch'],
    ['monitor'],
    ['client', 'list'],
    ['quit'],
    ['watch', 'k'],
  ]) {
    const res = await post(broker.url, '/', cmd);
    t.equal(res.status, 400, String(cmd[0]));
    t.equal((res.body as { code: string }).code, 'SLUICE_ERR_COMMAND_REFUSED');
  }
  t.match((await post(broker.url, '/', ['multi'])).body, { error: /multi-exec/ });
  t.match((await post(broker.url, '/', ['subscribe', 'c'])).body, { error: /subscribe/ });
});

t.test('unknown commands and wrong arity: Redis text, 400', async (t) => {
  const unknown = await post(broker.url, '/', ['nosuchcommand', 'x']);
  t.equal(unknown.status, 400);
  t.match(unknown.body, { error: /^ERR unknown command/ });
  const arity = await post(broker.url, '/', ['get']);
  t.match(arity.body, { error: /wrong number of arguments/ });
});

t.test('Upstash-Response-Format: resp2', async (t) => {
  const resp2 = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${broker.url}/`, {
      method: 'POST',
      headers: { ...auth, 'Upstash-Response-Format': 'resp2', ...headers },
      body: JSON.stringify(body),
    });
  await post(broker.url, '/', ['set', 'r', 'bar']);
  const getRes = await resp2(['get', 'r']);
  t.equal(getRes.headers.get('content-type'), 'application/octet-stream');
  t.equal(await getRes.text(), '$3\r\nbar\r\n');
  t.equal(await (await resp2(['set', 'r', 'x'])).text(), '+OK\r\n');
  t.equal(await (await resp2(['incr', 'rn'])).text(), ':1\r\n');
  t.equal(
    (await resp2(['get', 'r'], { 'Upstash-Encoding': 'base64' })).status,
    400,
    'resp2 with base64 is refused',
  );
  t.equal((await resp2(['get', 'r'], { 'Upstash-Response-Format': 'xml' })).status, 400);
});

t.test('Sluice-Deadline-Ms: validated', async (t) => {
  t.equal((await post(broker.url, '/', ['get', 'k'], { 'Sluice-Deadline-Ms': '5000' })).status, 200);
  const bad = await post(broker.url, '/', ['get', 'k'], { 'Sluice-Deadline-Ms': 'soon' });
  t.same([bad.status, (bad.body as { code: string }).code], [400, 'SLUICE_ERR_HTTP_BAD_HEADER']);
});

t.test('keep-alive: many requests on one connection, responses in request order', async (t) => {
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const url = new URL(broker.url);
  const one = (i: number) =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: `/echo/${i}`, headers: auth, agent },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
  t.same(
    replies,
    Array.from({ length: 50 }, (_, i) => `{"result":"${i}"}`),
  );
});

t.test('sync tokens are unique per response', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++)
    seen.add((await post(broker.url, '/', ['ping'])).headers.get('upstash-sync-token') ?? '');
  t.equal(seen.size, 20);
});
