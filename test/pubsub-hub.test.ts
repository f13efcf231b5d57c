// The shared subscriber on its own against a real Redis (refcounts, races, binary names), and the pure SSE wire helpers.
import t from 'tap';
import { createLogger } from '../broker/log.js';
import { dataEvent, decodeStreamName, fitsOneLine, monitorLine } from '../broker/protocol/sse-events.js';
import { MAX_NAME_BYTES, SubscriberHub } from '../broker/pubsub/hub.js';
import type { PubSubListener, PubSubMessage } from '../broker/pubsub/types.js';
import { NO_TELEMETRY } from '../broker/telemetry.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const admin = redis.client();
const logger = createLogger('silent');

function newHub(maxNames = 100): SubscriberHub {
  const hub = new SubscriberHub(
    { target: { url: redis.url }, connectTimeoutMs: 1000, maxNames },
    logger,
    NO_TELEMETRY,
  );
  t.teardown(() => hub.close());
  return hub;
}

function recorder(): PubSubListener & { got: PubSubMessage[]; reasons: Error[] } {
  const got: PubSubMessage[] = [];
  const reasons: Error[] = [];
  return { got, reasons, deliver: (m) => got.push(m), closed: (r) => reasons.push(r) };
}

async function numsub(channel: string | Buffer): Promise<number> {
  return Number(((await admin.pubsub('NUMSUB', channel as string)) as [string, number])[1]);
}

t.test(
  'concurrent subscribers of one name share one Redis subscription; the last one out releases it',
  async (t) => {
    const hub = newHub();
    const a = recorder();
    const b = recorder();
    await Promise.all([
      hub.subscribe('channel', Buffer.from('c1'), a),
      hub.subscribe('channel', Buffer.from('c1'), b),
    ]);
    t.equal(await numsub('c1'), 1);
    t.same(hub.stats(), { channels: 1, patterns: 0, listeners: 2, dropped: 0, messages: 0 });
    await admin.publish('c1', 'm');
    await waitFor(() => a.got.length === 1 && b.got.length === 1, 10_000, { what: 'the condition' });
    t.equal(a.got[0], b.got[0], 'one message object for all listeners');
    hub.unsubscribe('channel', Buffer.from('c1'), a);
    t.equal(await numsub('c1'), 1);
    hub.unsubscribe('channel', Buffer.from('c1'), b);
    await waitFor(async () => (await numsub('c1')) === 0, 10_000, { what: 'the condition' });
    t.same(hub.stats(), { channels: 0, patterns: 0, listeners: 0, dropped: 0, messages: 1 });
  },
);

t.test(
  'leaving before the confirmation, and coming back at once, leave Redis as the hub expects',
  async (t) => {
    const hub = newHub();
    await hub.connect();
    const a = recorder();
    const pending = hub.subscribe('channel', Buffer.from('race'), a);
    hub.unsubscribe('channel', Buffer.from('race'), a);
    await pending;
    await waitFor(async () => (await numsub('race')) === 0, 10_000, { what: 'the condition' });
    const b = recorder();
    await hub.subscribe('channel', Buffer.from('flip'), b);
    hub.unsubscribe('channel', Buffer.from('flip'), b);
    await hub.subscribe('channel', Buffer.from('flip'), b);
    t.equal(await numsub('flip'), 1);
    await admin.publish('flip', 'still');
    await waitFor(() => b.got.length === 1, 10_000, { what: 'the condition' });
    hub.unsubscribeAll(b);
    await waitFor(async () => (await numsub('flip')) === 0, 10_000, { what: 'the condition' });
  },
);

t.test('binary channel names and payloads stay bytes; patterns carry the matched channel', async (t) => {
  const hub = newHub();
  const name = Buffer.from([0xff, 0x00, 0x41]);
  const a = recorder();
  const p = recorder();
  await hub.subscribe('channel', name, a);
  await hub.subscribe('pattern', Buffer.from('bin*'), p);
  const data = Buffer.from([0x00, 0xfe, 0x0a]);
  await admin.publish(name, data);
  await admin.publish('binary', data);
  await waitFor(() => a.got.length === 1 && p.got.length === 1, 10_000, { what: 'the condition' });
  t.same([...a.got[0]!.channel], [...name]);
  t.same([...a.got[0]!.data], [...data]);
  t.equal(p.got[0]!.pattern?.toString(), 'bin*');
  t.equal(p.got[0]!.channel.toString(), 'binary');
});

t.test(
  'refusals: empty, too long, non-UTF-8 pattern, over the name limit; close tells listeners',
  async (t) => {
    const hub = newHub(1);
    const a = recorder();
    const codes = async (kind: 'channel' | 'pattern', name: Buffer) =>
      hub.subscribe(kind, name, a).then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );
    t.equal(await codes('channel', Buffer.alloc(0)), 'SLUICE_ERR_PUBSUB_BAD_NAME');
    t.equal(await codes('channel', Buffer.alloc(MAX_NAME_BYTES + 1, 0x61)), 'SLUICE_ERR_PUBSUB_BAD_NAME');
    t.equal(await codes('pattern', Buffer.from([0xff, 0x2a])), 'SLUICE_ERR_PUBSUB_BAD_NAME');
    t.equal(await codes('channel', Buffer.from('one')), 'ok');
    t.equal(await codes('channel', Buffer.from('two')), 'SLUICE_ERR_PUBSUB_LIMIT');
    t.equal(await codes('channel', Buffer.from('one')), 'ok', 'a held name is not a new one');
    hub.close();
    t.equal(a.reasons.length, 1);
    t.equal((a.reasons[0] as { code?: string }).code, 'SLUICE_ERR_DRAINING');
    t.equal(await codes('channel', Buffer.from('one')), 'SLUICE_ERR_DRAINING');
  },
);

t.test('wire helpers (pure)', async (t) => {
  const cases: [string, number[]][] = [
    ['chat', [...Buffer.from('chat')]],
    ['a/b', [...Buffer.from('a/b')]],
    ['a%20b+c', [...Buffer.from('a b+c')]],
    ['%E2%9C%93', [0xe2, 0x9c, 0x93]],
    ['%zz%2', [...Buffer.from('%zz%2')]],
    ['100%', [...Buffer.from('100%')]],
    ['%ff', [0xff]],
  ];
  for (const [raw, bytes] of cases) t.same([...decodeStreamName(raw)], bytes, raw);
  t.equal(dataEvent('message', Buffer.from('ch'), Buffer.from('a,b')).toString(), 'data: message,ch,a,b\n\n');
  t.equal(dataEvent('"OK"').toString(), 'data: "OK"\n\n');
  t.equal(fitsOneLine(Buffer.from('a\rb')), true);
  t.equal(fitsOneLine(Buffer.from('x'), Buffer.from('a\nb')), false);
  t.equal(
    monitorLine('1721284005.242090', ['SET', 'k', 'say "hi"', 'a\\\\b'], '127.0.0.1:6000', '0'),
    '1721284005.242090 [0 127.0.0.1:6000] "SET" "k" "say \\"hi\\"" "a\\\\b"',
  );
});
