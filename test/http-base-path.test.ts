// SLUICE_BASE_PATH: every route under a prefix, for proxies that forward /prefix/… unchanged (docs/rest-api.md).
import { Redis } from '@upstash/redis';
import t from 'tap';
import WebSocket from 'ws';
import { parseConfig } from '../broker/config.js';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url, { flags: { 'base-path': '/redis' } });
t.teardown(() => broker.close());
const base = `${broker.url}/redis`;

t.test('the official client works with the prefixed URL', async (t) => {
  const client = new Redis({ url: base, token: TOKEN, enableTelemetry: false });
  t.equal(await client.set('k', 'v'), 'OK');
  t.equal(await client.get('k'), 'v');
  const plain = new Redis({ url: base, token: TOKEN, enableTelemetry: false, enableAutoPipelining: false });
  t.equal(await plain.get('k'), 'v', 'single commands go to POST <base> exactly');
  const tx = plain.multi();
  tx.incr('n');
  tx.incr('n');
  t.same(await tx.exec(), [1, 2]);
});

t.test('the base URL with and without a slash, path style, and routes outside the prefix', async (t) => {
  t.same((await post(base, '', ['get', 'k'])).body, { result: 'v' });
  t.same((await post(base, '/', ['get', 'k'])).body, { result: 'v' });
  t.same((await post(base, '/pipeline', [['get', 'k']])).body, [{ result: 'v' }]);
  const path = await fetch(`${base}/get/k`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.same(await path.json(), { result: 'v' });
  for (const outside of ['/get/k', '/redisx/get/k', '/']) {
    const res = await fetch(broker.url + outside, { headers: { Authorization: `Bearer ${TOKEN}` } });
    t.equal(res.status, 404, outside);
    t.match(await res.json(), { code: 'SLUICE_ERR_HTTP_NOT_FOUND' });
  }
});

t.test('WebSocket under the prefix', async (t) => {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?_token=${TOKEN}`);
  t.teardown(() => ws.close());
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ id: 1, cmd: ['GET', 'k'] }));
  const [reply] = await new Promise<[WebSocket.RawData]>((resolve) =>
    ws.once('message', (...args) => resolve([args[0]])),
  );
  t.same(JSON.parse(reply.toString()), { id: 1, result: 'v' });
});

t.test('a bad base path is refused at start', async (t) => {
  for (const bad of ['redis', '/redis/', '/re dis', '/a?b']) {
    t.throws(() => parseConfig(['--base-path', bad], {}), { message: /SLUICE_BASE_PATH/ }, bad);
  }
  const ok = parseConfig(['--base-path', '/v1/redis'], {});
  t.equal(ok.help ? '' : ok.config.basePath, '/v1/redis');
});
