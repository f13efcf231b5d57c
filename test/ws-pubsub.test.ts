// Pub/sub over /ws: acks with counts before pushes, PUBLISH over REST delivered as pushes, base64 data, cleanup on close.
// The shared subscriber (broker/pubsub) is built on another branch; until it is merged here, `LocalHub` below stands in:
// a minimal PubSubHub over one real Redis subscriber connection, enough to exercise the WebSocket side of the contract.
import { Redis } from 'ioredis';
import t from 'tap';
import type { PubSubHub, PubSubListener, SubscriptionKind } from '../broker/pubsub/types.js';
import { post, READONLY_TOKEN, startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { Peer } from './helpers/ws.js';

/** A bare hub: reference-counted subscriptions on one ioredis subscriber connection. */
class LocalHub implements PubSubHub {
  readonly redis: Redis;
  readonly listeners = new Map<string, Set<PubSubListener>>();

  constructor(url: string) {
    this.redis = new Redis(url);
    this.redis.on('messageBuffer', (channel: Buffer, data: Buffer) => {
      for (const l of this.listeners.get(`channel:${channel.toString('latin1')}`) ?? [])
        l.deliver({ channel, data });
    });
    this.redis.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, data: Buffer) => {
      for (const l of this.listeners.get(`pattern:${pattern.toString('latin1')}`) ?? [])
        l.deliver({ pattern, channel, data });
    });
  }

  async subscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): Promise<void> {
    const key = `${kind}:${name.toString('latin1')}`;
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    if (set.size === 1)
      await (kind === 'channel'
        ? this.redis.subscribe(name.toString())
        : this.redis.psubscribe(name.toString()));
  }

  unsubscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): void {
    const key = `${kind}:${name.toString('latin1')}`;
    const set = this.listeners.get(key);
    if (!set?.delete(listener) || set.size > 0) return;
    this.listeners.delete(key);
    void (kind === 'channel'
      ? this.redis.unsubscribe(name.toString())
      : this.redis.punsubscribe(name.toString()));
  }

  unsubscribeAll(listener: PubSubListener): void {
    for (const [key, set] of this.listeners) {
      if (!set.has(listener)) continue;
      const [kind, name] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      this.unsubscribe(kind as SubscriptionKind, Buffer.from(name, 'latin1'), listener);
    }
  }

  /** Listeners over every name. */
  count(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

async function open(t: { teardown(fn: () => unknown): void }, options: Parameters<typeof Peer.open>[1] = {}) {
  const peer = await Peer.open(broker.url, options);
  t.teardown(() => peer.close());
  return peer;
}

t.test('without a shared subscriber, subscribe is refused with a clear code', async (t) => {
  const peer = await open(t);
  t.match(await peer.request({ id: 1, subscribe: ['news'] }), {
    id: 1,
    code: 'SLUICE_ERR_WS_PUBSUB_UNAVAILABLE',
  });
  t.same(await peer.request({ id: 2, cmd: ['PING'] }), { id: 2, result: 'PONG' });
});

t.test('with a hub', async (t) => {
  const hub = new LocalHub(redis.url);
  t.teardown(() => hub.redis.disconnect());
  broker.ws.setHub(hub);

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
    t.equal(hub.count(), 0);
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
    t.equal(hub.count(), 2);
    await peer.close();
    for (let i = 0; i < 200 && hub.count() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(hub.count(), 0);
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
