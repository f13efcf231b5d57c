import t from 'tap';
import { post, startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

t.test('single command', async (t) => {
  const set = await post(broker.url, '/', ['set', 'k', 'v']);
  t.equal(set.status, 200);
  t.same(set.body, { result: 'OK' });
  t.ok(set.headers.get('upstash-sync-token'));
  t.same((await post(broker.url, '/', ['get', 'k'])).body, { result: 'v' });
});
