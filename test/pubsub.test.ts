// Pub/sub over SSE: exact wire lines, the official client, one shared subscriber for many listeners, release, reconnect.
import { Redis as Upstash } from '@upstash/redis';
import t from 'tap';
import { post, READONLY_TOKEN, startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { openStream, type TestStream } from './helpers/sse.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());
const admin = redis.client();

const publish = (channel: string, message: string) => post(broker.url, '/', ['publish', channel, message]);

/** Subscribers Redis counts for a channel (PUBSUB NUMSUB). */
async function numsub(channel: string): Promise<number> {
  const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** The broker's shared subscriber connections in CLIENT LIST. */
async function subscriberConnections(): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(' name=sluice-subscriber ')).length;
}

t.test('raw SSE: headers, subscribe line, raw payloads with commas, base64 header ignored', async (t) => {
  const stream = await openStream(broker.url, '/subscribe/chat', {
    headers: { 'Upstash-Encoding': 'base64', 'upstash-sync-token': '' },
  });
  t.teardown(() => stream.close());
  t.equal(stream.status, 200);
  t.equal(stream.headers['content-type'], 'text/event-stream');
  t.equal(stream.headers['cache-control'], 'no-cache');
  t.type(stream.headers['upstash-sync-token'], 'string');
  t.equal(await stream.waitFor((l) => l.startsWith('data: ')), 'data: subscribe,chat,1');
  t.equal(await numsub('chat'), 1);
  t.same((await publish('chat', 'hello')).body, { result: 1 });
  await publish('chat', 'a,b,c');
  await publish('chat', 'héllo ✓');
  await stream.waitFor((l) => l.includes('héllo'));
  t.same(stream.lines.slice(0, 8), [
    'data: subscribe,chat,1',
    '',
    'data: message,chat,hello',
    '',
    'data: message,chat,a,b,c',
    '',
    'data: message,chat,héllo ✓',
    '',
  ]);
});

t.test('raw SSE: psubscribe and pmessage', async (t) => {
  const stream = await openStream(broker.url, '/psubscribe/ne*');
  t.teardown(() => stream.close());
  t.equal(await stream.waitFor((l) => l.startsWith('data: ')), 'data: psubscribe,ne*,1');
  await publish('news', '{"a":1}');
  t.equal(await stream.waitFor((l) => l.startsWith('data: pmessage')), 'data: pmessage,ne*,news,{"a":1}');
});

t.test(
  'names: the whole rest of the path, percent-decoded, invalid escapes kept; GET works too',
  async (t) => {
    const stream = await openStream(broker.url, '/subscribe/a/b%20c%zz%2', { method: 'GET' });
    t.teardown(() => stream.close());
    t.equal(await stream.waitFor((l) => l.startsWith('data: ')), 'data: subscribe,a/b c%zz%2,1');
    t.equal(await numsub('a/b c%zz%2'), 1);
    await publish('a/b c%zz%2', 'x');
    await stream.waitFor((l) => l === 'data: message,a/b c%zz%2,x');
  },
);

t.test('a payload with a newline is dropped and counted; the stream goes on', async (t) => {
  const stream = await openStream(broker.url, '/subscribe/nl');
  t.teardown(() => stream.close());
  await stream.waitFor((l) => l === 'data: subscribe,nl,1');
  const before = broker.pubsub.stats().dropped;
  await publish('nl', 'two\nlines');
  await publish('nl', 'after');
  await stream.waitFor((l) => l === 'data: message,nl,after');
  t.same(stream.data(), ['subscribe,nl,1', 'message,nl,after']);
  t.equal(broker.pubsub.stats().dropped, before + 1);
  t.equal(broker.sse.stats().dropped >= 1, true);
});

t.test('bad names and rights', async (t) => {
  for (const path of ['/subscribe/', '/psubscribe/']) {
    const reply = await post(broker.url, path, []);
    t.equal(reply.status, 400, path);
    t.equal((reply.body as { code: string }).code, 'SLUICE_ERR_PUBSUB_BAD_NAME');
  }
  const long = await post(broker.url, `/subscribe/${'x'.repeat(1025)}`, []);
  t.equal(long.status, 400);
  t.equal((long.body as { code: string }).code, 'SLUICE_ERR_PUBSUB_BAD_NAME');
  const newline = await post(broker.url, '/subscribe/a%0Ab', []);
  t.equal((newline.body as { code: string }).code, 'SLUICE_ERR_PUBSUB_BAD_NAME');
  const noToken = await fetch(`${broker.url}/subscribe/x`, { method: 'POST', body: '[]' });
  t.equal(noToken.status, 401);
  t.equal(((await noToken.json()) as { code: string }).code, 'SLUICE_ERR_AUTH_MISSING');
  // A read-only token may listen.
  const readonly = await openStream(broker.url, '/subscribe/ro', { token: READONLY_TOKEN });
  t.teardown(() => readonly.close());
  t.equal(readonly.status, 200);
  await readonly.waitFor((l) => l === 'data: subscribe,ro,1');
});

t.test('@upstash/redis subscribe and psubscribe receive a PUBLISH sent through the broker', async (t) => {
  const client = new Upstash({ url: broker.url, token: TOKEN, enableTelemetry: false });
  const sub = client.subscribe<{ n: number }>(['client-ch']);
  const psub = client.psubscribe<{ n: number }>(['client-*']);
  t.teardown(async () => {
    await sub.unsubscribe();
    await psub.unsubscribe();
  });
  const counts: number[] = [];
  sub.on('subscribe', (n) => counts.push(n));
  psub.on('psubscribe', (n) => counts.push(n));
  const errors: unknown[] = [];
  sub.on('error', (e) => errors.push(e));
  psub.on('error', (e) => errors.push(e));
  const message = new Promise<unknown>((resolve) => sub.on('message', resolve));
  const pmessage = new Promise<unknown>((resolve) => psub.on('pmessage', resolve));
  await waitFor(async () => (await numsub('client-ch')) === 1 && counts.length === 2, 10_000, {
    what: 'the condition',
  });
  t.same(counts, [1, 1]);
  // Both streams receive it: the channel stream and the pattern stream.
  t.equal(await client.publish('client-ch', { n: 1 }), 2);
  t.same(await message, { channel: 'client-ch', message: { n: 1 } });
  t.same(await pmessage, { pattern: 'client-*', channel: 'client-ch', message: { n: 1 } });
  // A plain-text payload arrives raw (the client falls back to the string for `message`).
  const text = new Promise<unknown>((resolve) => sub.on('message:client-ch', resolve));
  const raw = await post(broker.url, '/pipeline', [['publish', 'client-ch', 'hi, there']]);
  t.same(raw.body, [{ result: 2 }]);
  t.same(await text, { channel: 'client-ch', message: 'hi, there' });
  // The client JSON-parses pmessage payloads without a fallback (docs/rest-api.md, pub/sub), so it reports an error.
  await waitFor(() => errors.length === 1, 10_000, { what: 'the condition' });
  // Unsubscribing aborts the streams; the broker notices and releases the Redis subscriptions.
  await sub.unsubscribe();
  await psub.unsubscribe();
  await waitFor(async () => (await numsub('client-ch')) === 0, 10_000, { what: 'the condition' });
  await waitFor(async () => Number(await admin.pubsub('NUMPAT')) === 0, 10_000, { what: 'the condition' });
});

t.test('1,000 SSE listeners on one channel share one Redis subscriber connection', async (t) => {
  const streams: TestStream[] = [];
  t.teardown(() => {
    for (const s of streams) s.close();
  });
  for (let batch = 0; batch < 10; batch++) {
    streams.push(
      ...(await Promise.all(Array.from({ length: 100 }, () => openStream(broker.url, '/subscribe/crowd')))),
    );
  }
  await Promise.all(streams.map((s) => s.waitFor((l) => l === 'data: subscribe,crowd,1', 30_000)));
  t.equal(await subscriberConnections(), 1, 'one subscriber connection in CLIENT LIST');
  t.equal(await numsub('crowd'), 1, 'Redis sees one subscriber');
  t.equal(broker.pubsub.stats().listeners >= 1000, true);
  t.same((await publish('crowd', 'to everyone')).body, { result: 1 });
  await Promise.all(streams.map((s) => s.waitFor((l) => l === 'data: message,crowd,to everyone', 30_000)));
  t.pass('all 1,000 listeners got the message');
  // Half leave: still subscribed. All leave: Redis no longer holds the channel.
  for (const s of streams.slice(0, 500)) s.close();
  await waitFor(() => broker.pubsub.stats().listeners <= 500 + 20, 10_000, { what: 'the condition' });
  t.equal(await numsub('crowd'), 1);
  for (const s of streams.slice(500)) s.close();
  await waitFor(async () => !((await admin.pubsub('CHANNELS')) as string[]).includes('crowd'), 10_000, {
    what: 'the condition',
  });
  t.equal(await subscriberConnections(), 1, 'the connection stays open for the next subscriber');
});

t.test('after CLIENT KILL TYPE pubsub every held name is subscribed again', async (t) => {
  const channel = await openStream(broker.url, '/subscribe/survivor');
  const pattern = await openStream(broker.url, '/psubscribe/surv*');
  t.teardown(() => {
    channel.close();
    pattern.close();
  });
  await channel.waitFor((l) => l === 'data: subscribe,survivor,1');
  await pattern.waitFor((l) => l === 'data: psubscribe,surv*,1');
  const killed = (await admin.client('KILL', 'TYPE', 'pubsub')) as number;
  t.equal(killed >= 1, true, 'Redis closed the subscriber connection');
  await waitFor(
    async () => (await numsub('survivor')) === 1 && (await subscriberConnections()) === 1,
    10_000,
    { what: 'the condition' },
  );
  await waitFor(async () => Number(await admin.pubsub('NUMPAT')) === 1, 10_000, { what: 'the condition' });
  await publish('survivor', 'still here');
  await channel.waitFor((l) => l === 'data: message,survivor,still here');
  await pattern.waitFor((l) => l === 'data: pmessage,surv*,survivor,still here');
  t.equal(channel.data().filter((l) => l.startsWith('subscribe')).length, 1, 'no second subscribe line');
});

t.test('monitor: admin token sees commands; other tokens are refused', async (t) => {
  const refused = await post(broker.url, '/monitor', [], { Authorization: `Bearer ${READONLY_TOKEN}` });
  t.equal(refused.status, 400);
  t.equal((refused.body as { code: string }).code, 'SLUICE_ERR_AUTH_NOPERM');
  const stream = await openStream(broker.url, '/monitor');
  t.teardown(() => stream.close());
  t.equal(stream.status, 200);
  t.equal(stream.headers['content-type'], 'text/event-stream');
  t.equal(await stream.waitFor((l) => l.startsWith('data: ')), 'data: "OK"');
  await post(broker.url, '/', ['set', 'mon-key', 'say "hi"']);
  const line = await stream.waitFor((l) => l.includes('"mon-key"'));
  t.match(line, /^data: \d+\.\d+ \[0 [^\]]+\] "SET" "mon-key" "say \\"hi\\""$/);
  t.equal(broker.sse.stats().monitors, 1);
  stream.close();
  await waitFor(
    async () => !((await admin.client('LIST')) as string).includes('name=sluice-monitor '),
    10_000,
    { what: 'the condition' },
  );
});
