// Pub/sub over /ws through the shared subscriber (broker/pubsub/hub.ts): acks with counts before pushes, PUBLISH over
// REST delivered as pushes, base64 data, refusals with the request id, cleanup on close.
import t from 'tap';
import { post, READONLY_TOKEN, startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { Peer } from './helpers/ws.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

async function open(t: { teardown(fn: () => unknown): void }, options: Parameters<typeof Peer.open>[1] = {}) {
  const peer = await Peer.open(broker.url, options);
  t.teardown(() => peer.close());
  return peer;
}

const listeners = () => broker.pubsub.stats().listeners;

t.test('through the shared subscriber', async (t) => {
  t.test('names the hub refuses are answered with the request id', async (t) => {
    const peer = await open(t);
    t.match(await peer.request({ id: 1, subscribe: [''] }), { id: 1, code: 'SLUICE_ERR_PUBSUB_BAD_NAME' });
    t.match(await peer.request({ id: 2, psubscribe: ['x'.repeat(2000)] }), {
      id: 2,
      code: 'SLUICE_ERR_PUBSUB_BAD_NAME',
    });
    t.same(await peer.request({ id: 3, unsubscribe: [] }), { id: 3, result: [0] });
  });

  t.test('subscribe, psubscribe, pushes from a PUBLISH over REST, unsubscribe', async (t) => {
    const peer = await open(t, { token: READONLY_TOKEN });
    t.same(await peer.request({ id: 1, subscribe: ['ps:a', 'ps:b', 'ps:a'] }), { id: 1, result: [1, 2, 2] });
    t.same(await peer.request({ id: 2, psubscribe: ['ps:n.*'] }), { id: 2, result: [3] });
    t.same((await post(broker.url, '/', ['PUBLISH', 'ps:a', 'hello'])).body, { result: 1 });
    t.same((await post(broker.url, '/', ['PUBLISH', 'ps:n.1', 'news'])).body, { result: 1 });
    t.same(await peer.waitPushes(2), [
      { type: 'message', channel: 'ps:a', data: 'hello' },
      { type: 'pmessage', pattern: 'ps:n.*', channel: 'ps:n.1', data: 'news' },
    ]);
    t.same(await peer.request({ id: 3, unsubscribe: ['ps:a'] }), { id: 3, result: [2] });
    await post(broker.url, '/', ['PUBLISH', 'ps:a', 'gone']);
    await post(broker.url, '/', ['PUBLISH', 'ps:b', 'still']);
    t.same((await peer.waitPushes(3))[2], { type: 'message', channel: 'ps:b', data: 'still' });
    t.same(await peer.request({ id: 4, punsubscribe: [] }), { id: 4, result: [1] });
    t.same(await peer.request({ id: 5, unsubscribe: [] }), { id: 5, result: [0] });
    t.same(await peer.request({ id: 6, unsubscribe: [] }), { id: 6, result: [0] });
    // Commands still run on a socket that has subscriptions (unlike a RESP2 connection in subscribe mode).
    t.same(await peer.request({ id: 7, cmd: ['PING'] }), { id: 7, result: 'PONG' });
    t.equal(listeners(), 0);
  });

  t.test('base64 sockets get base64 data', async (t) => {
    const peer = await open(t, { query: 'encoding=base64' });
    t.same(await peer.request({ id: 1, subscribe: ['ps:bin'] }), { id: 1, result: [1] });
    const bytes = Buffer.from([0, 0xff, 0x80, 0x0a]);
    // REST arguments are text, so the raw bytes are published through Redis directly.
    await redis.client().publish('ps:bin', bytes);
    const pushes = await peer.waitPushes(1);
    t.same(pushes[0], { type: 'message', channel: 'ps:bin', data: bytes.toString('base64') });
  });

  t.test('the ack comes before the first push, even while messages flow', async (t) => {
    const peer = await open(t);
    const publisher = redis.client();
    let publishing = true;
    const flood = (async () => {
      while (publishing) await publisher.publish('ps:race', 'm');
    })();
    const ack = await peer.request({ id: 1, subscribe: ['ps:race'] });
    await peer.waitPushes(3);
    publishing = false;
    await flood;
    t.same(ack, { id: 1, result: [1] });
    t.same(peer.frames[0], { id: 1, result: [1] }, 'the first frame is the ack');
  });

  t.test('closing the socket releases its subscriptions', async (t) => {
    const peer = await Peer.open(broker.url);
    t.same(await peer.request({ id: 1, subscribe: ['ps:c1', 'ps:c2'] }), { id: 1, result: [1, 2] });
    t.equal(listeners(), 2);
    await peer.close();
    await waitFor(() => listeners() === 0, 2000, { everyMs: 10 });
    t.equal(listeners(), 0);
  });

  t.test('pushes go only to the sockets that subscribed', async (t) => {
    const a = await open(t);
    const b = await open(t);
    t.same(await a.request({ id: 1, subscribe: ['ps:only-a'] }), { id: 1, result: [1] });
    t.same(await b.request({ id: 1, subscribe: ['ps:only-b'] }), { id: 1, result: [1] });
    await redis.client().publish('ps:only-a', 'for a');
    await redis.client().publish('ps:only-b', 'for b');
    t.same(await a.waitPushes(1), [{ type: 'message', channel: 'ps:only-a', data: 'for a' }]);
    t.same(await b.waitPushes(1), [{ type: 'message', channel: 'ps:only-b', data: 'for b' }]);
  });
});
