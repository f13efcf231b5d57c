// Auth: a missing or wrong token gets the same 401 JSON on every route and path style; tokens never reach the logs.
import t from 'tap';
import { READONLY_TOKEN, TOKEN, startTestBroker } from './helpers/broker.js';
import { call, keepAliveAgent, parseRawResponse, rawExchange } from './helpers/load.js';
import { killBrokerConnections, startRedis } from './helpers/redis.js';
import { sleep } from './helpers/time.js';

const logLines: string[] = [];
const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { logLines });
t.teardown(() => broker.close());
const agent = keepAliveAgent(8);
t.teardown(() => agent.destroy());

const WRONG = 'wrong-token-that-looks-plausible';
const ROUTES: { method: string; path: string; body?: string }[] = [
  { method: 'POST', path: '/', body: '["get","k"]' },
  { method: 'POST', path: '/pipeline', body: '[["get","k"]]' },
  { method: 'POST', path: '/multi-exec', body: '[["get","k"]]' },
  { method: 'GET', path: '/get/k' },
  { method: 'POST', path: '/set/k', body: 'v' },
  { method: 'PUT', path: '/set/k/v' },
  { method: 'GET', path: '/subscribe/ch' },
  { method: 'GET', path: '/psubscribe/ch*' },
  { method: 'GET', path: '/monitor' },
  { method: 'GET', path: '/ws' },
];
const CREDENTIALS: { name: string; headers: Record<string, string>; query: string; code: string }[] = [
  { name: 'no token', headers: {}, query: '', code: 'SLUICE_ERR_AUTH_MISSING' },
  { name: 'empty bearer', headers: { Authorization: 'Bearer ' }, query: '', code: 'SLUICE_ERR_AUTH_MISSING' },
  {
    name: 'wrong bearer',
    headers: { Authorization: `Bearer ${WRONG}` },
    query: '',
    code: 'SLUICE_ERR_AUTH_INVALID',
  },
  {
    name: 'token prefix',
    headers: { Authorization: `Bearer ${TOKEN.slice(0, -1)}` },
    query: '',
    code: 'SLUICE_ERR_AUTH_INVALID',
  },
  {
    name: 'basic scheme',
    headers: { Authorization: `Basic ${TOKEN}` },
    query: '',
    code: 'SLUICE_ERR_AUTH_MISSING',
  },
  { name: 'wrong ?_token', headers: {}, query: `_token=${WRONG}`, code: 'SLUICE_ERR_AUTH_INVALID' },
  { name: 'empty ?_token', headers: {}, query: '_token=', code: 'SLUICE_ERR_AUTH_MISSING' },
];

t.test('missing or wrong token: 401 JSON on every route, the same way', async (t) => {
  const messages = new Set<string>();
  const failures: string[] = [];
  for (const route of ROUTES) {
    for (const credential of CREDENTIALS) {
      const sep = route.path.includes('?') ? '&' : '?';
      const path = credential.query ? `${route.path}${sep}${credential.query}` : route.path;
      // call() adds the valid token unless Authorization is '' (then none is sent).
      const headers = { Authorization: '', ...credential.headers };
      const r = await call(broker.url, path, route.body, { agent, method: route.method, headers });
      const body = r.body as { error?: string; code?: string } | undefined;
      if (r.status !== 401 || body?.code !== credential.code || typeof body.error !== 'string')
        failures.push(`${route.method} ${path} (${credential.name}): ${r.status} ${r.text.slice(0, 100)}`);
      if (body?.error) messages.add(body.error);
      // HEAD is a method of the path-style routes (POST-only routes answer 405 to it whatever the token).
      if (route.method === 'POST' && route.path !== '/set/k') continue;
      const head = await call(broker.url, path, undefined, { agent, method: 'HEAD', headers });
      if (head.status !== 401) failures.push(`HEAD ${path} (${credential.name}): ${head.status}`);
    }
  }
  t.same(failures, [], 'every route refuses with 401 and the expected code');
  t.same([...messages], ['WRONGPASS invalid or missing auth token'], 'with one message for every case');

  // WebSocket upgrades are refused before the upgrade, with the same JSON.
  for (const [name, extra] of [
    ['no token', ''],
    ['wrong token', `Authorization: Bearer ${WRONG}\r\n`],
  ] as const) {
    const raw = await rawExchange(
      broker.url,
      `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`,
    );
    const response = parseRawResponse(raw);
    if ((response.body as { code?: string } | undefined)?.code === 'SLUICE_ERR_HTTP_NOT_FOUND') {
      t.comment('no WebSocket transport on this build; /ws upgrades answer 404 before auth');
      continue;
    }
    t.equal(response.status, 401, `ws upgrade with ${name}: 401`);
    t.match(
      response.body,
      { code: /^SLUICE_ERR_AUTH_(MISSING|INVALID)$/ },
      `ws upgrade with ${name}: JSON code`,
    );
  }

  // The valid tokens work through both styles (the refusals above are not a broken route).
  const viaQuery = await call(broker.url, `/set/q/1?_token=${TOKEN}`, undefined, {
    agent,
    method: 'GET',
    headers: { Authorization: '' },
  });
  t.same(viaQuery.body, { result: 'OK' }, '?_token= with the right token works');
  const readonly = await call(broker.url, '/', '["set","q","2"]', {
    agent,
    headers: { Authorization: `Bearer ${READONLY_TOKEN}` },
  });
  t.match(readonly.body, { code: 'SLUICE_ERR_AUTH_NOPERM' }, 'the read-only token may not write');
});

t.test('tokens never appear in the logs', async (t) => {
  // Produce log traffic: good and bad tokens in headers and queries, bad requests, and a Redis connection loss.
  for (let i = 0; i < 5; i++) {
    await call(broker.url, `/get/k?_token=${TOKEN}`, undefined, {
      agent,
      method: 'GET',
      headers: { Authorization: '' },
    });
    await call(broker.url, `/get/k?_token=${WRONG}`, undefined, {
      agent,
      method: 'GET',
      headers: { Authorization: '' },
    });
    await call(broker.url, '/', '{bad json', { agent });
    await call(broker.url, '/', '["set","k"]', {
      agent,
      headers: { Authorization: `Bearer ${READONLY_TOKEN}` },
    });
  }
  await killBrokerConnections(redis.client());
  await call(broker.url, '/', '["get","k"]', { agent });
  await sleep(500);
  await call(broker.url, '/', '["get","k"]', { agent });
  t.ok(logLines.length > 0, `the broker logged (${logLines.length} lines)`);
  const leaks = logLines.filter(
    (line) => line.includes(TOKEN) || line.includes(READONLY_TOKEN) || line.includes(WRONG),
  );
  t.same(leaks, [], 'no log line contains a token');
});
