// Pub/sub limits and faults: a reader that never reads is cut off, keep-alives, the name limit, Redis down, drain.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { NO_TELEMETRY, type RefusalReason, type Telemetry } from '../broker/telemetry.js';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { openStream } from './helpers/sse.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const refusals: RefusalReason[] = [];
const telemetry: Telemetry = { ...NO_TELEMETRY, refused: (reason) => refusals.push(reason) };
const broker = await startTestBroker(redis.url, {
  flags: { 'subscriber-buffer-bytes': 65536, 'sse-keepalive-ms': 100, 'subscriber-max-channels': 3 },
  telemetry,
});
t.teardown(() => broker.close());
const admin = redis.client();

async function numsub(r: { pubsub(...args: string[]): Promise<unknown> }, channel: string): Promise<number> {
  return Number(((await r.pubsub('NUMSUB', channel)) as [string, number])[1]);
}

t.test(
  'a listener that never reads is cut off once SLUICE_SUBSCRIBER_BUFFER_BYTES wait for it',
  async (t) => {
    const socket: Socket = connect(Number(new URL(broker.url).port), '127.0.0.1');
    t.teardown(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /subscribe/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 2\r\n\r\n[]`,
    );
    // Never read: the kernel buffers fill, then the broker's response buffer.
    socket.pause();
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => {});
    await waitFor(async () => (await numsub(admin, 'slow')) === 1, 10_000, { what: 'the condition' });
    const payload = 'x'.repeat(1024 * 1024);
    let published = 0;
    while (broker.sse.stats().cutOff === 0 && published < 200) {
      await post(broker.url, '/', ['publish', 'slow', payload]);
      published++;
    }
    t.equal(broker.sse.stats().cutOff, 1, `cut off after ${published} messages of 1 MiB`);
    t.ok(refusals.includes('subscriber_overflow'), 'reported to telemetry');
    await waitFor(async () => (await numsub(admin, 'slow')) === 0, 10_000, { what: 'the condition' });
    t.equal(broker.pubsub.stats().channels, 0, 'the hub released the channel');
    socket.resume();
    await waitFor(() => closed, 10_000, { what: 'the condition' });
    t.pass('the socket was closed');
  },
);

t.test('keep-alive comments every SLUICE_SSE_KEEPALIVE_MS', async (t) => {
  const stream = await openStream(broker.url, '/subscribe/quiet');
  t.teardown(() => stream.close());
  await stream.waitFor((l) => l === 'data: subscribe,quiet,1');
  await stream.waitFor((l) => l === ': keepalive');
  t.pass('a keep-alive comment arrived');
});

t.test(
  'SLUICE_SUBSCRIBER_MAX_CHANNELS bounds the names held; a held name takes more listeners',
  async (t) => {
    const held = await Promise.all(['l1', 'l2', 'l3'].map((c) => openStream(broker.url, `/subscribe/${c}`)));
    t.teardown(() => {
      for (const s of held) s.close();
    });
    await Promise.all(held.map((s, i) => s.waitFor((l) => l === `data: subscribe,l${i + 1},1`)));
    const refused = await post(broker.url, '/psubscribe/l*', []);
    t.equal(refused.status, 503);
    t.equal((refused.body as { code: string }).code, 'SLUICE_ERR_PUBSUB_LIMIT');
    t.equal(refused.headers.get('retry-after'), '1');
    const again = await openStream(broker.url, '/subscribe/l1');
    t.teardown(() => again.close());
    await again.waitFor((l) => l === 'data: subscribe,l1,1');
    t.equal(broker.pubsub.stats().channels, 3);
  },
);

t.test(
  'Redis down: a new subscription gets 503; held streams are re-subscribed after a restart',
  async (t) => {
    const own = await startRedis();
    t.teardown(() => own.stop());
    const b = await startTestBroker(own.url, { flags: { 'redis-connect-timeout-ms': 300 } });
    t.teardown(() => b.close());
    const stream = await openStream(b.url, '/subscribe/phoenix');
    t.teardown(() => stream.close());
    await stream.waitFor((l) => l === 'data: subscribe,phoenix,1');
    await own.kill();
    const refused = await post(b.url, '/subscribe/other', []);
    t.equal(refused.status, 503);
    t.equal((refused.body as { code: string }).code, 'SLUICE_ERR_REDIS_UNAVAILABLE');
    await own.restart();
    await waitFor(async () => (await numsub(own.client(), 'phoenix')) === 1, 15_000, {
      what: 'the condition',
    });
    await waitFor(
      async () => (await post(b.url, '/', ['publish', 'phoenix', 'back'])).status === 200,
      15_000,
      { what: 'the condition' },
    );
    await stream.waitFor((l) => l === 'data: message,phoenix,back');
    t.pass('the stream outlived the Redis restart');
  },
);

t.test('draining ends every SSE stream', async (t) => {
  const b = await startTestBroker(redis.url);
  t.teardown(() => b.close());
  const sub = await openStream(b.url, '/subscribe/bye');
  const monitor = await openStream(b.url, '/monitor');
  t.teardown(() => {
    sub.close();
    monitor.close();
  });
  await sub.waitFor((l) => l === 'data: subscribe,bye,1');
  await monitor.waitFor((l) => l === 'data: "OK"');
  await b.close();
  await sub.ended;
  await monitor.ended;
  t.equal(b.pubsub.stats().channels, 0);
  await waitFor(async () => (await numsub(admin, 'bye')) === 0, 10_000, { what: 'the condition' });
});
