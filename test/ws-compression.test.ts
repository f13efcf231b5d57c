// permessage-deflate on /ws: off unless SLUICE_WS_COMPRESSION; when on, bounded windows, and an inflated message
// still stops at SLUICE_WS_MAX_FRAME_BYTES (a compression bomb closes its socket with 1009, nothing else).
import t from 'tap';
import type { Broker } from '../broker/lifecycle/broker.js';
import { startTestBroker } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { type OpenOptions, Peer } from './helpers/ws.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

async function broker(t: { teardown(fn: () => unknown): void }, flags: Record<string, number | boolean>) {
  const started: Broker = await startTestBroker(redis.url, { flags });
  t.teardown(() => started.close());
  return started;
}

async function open(
  t: { teardown(fn: () => unknown): void },
  url: string,
  perMessageDeflate: OpenOptions['perMessageDeflate'],
): Promise<Peer> {
  const peer = await Peer.open(url, { perMessageDeflate });
  t.teardown(() => peer.close());
  return peer;
}

/** Bytes the client's socket has read so far (the frames as they crossed the wire). */
function bytesRead(peer: Peer): number {
  return (peer.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
}

/** The permessage-deflate parameters the client accepted from the broker's answer. */
function negotiated(peer: Peer): Record<string, unknown> {
  const ws = peer.ws as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> };
  return ws._extensions['permessage-deflate']?.params ?? {};
}

const VALUE = 'sluice '.repeat(30_000);

t.test('off by default: an offer of permessage-deflate is declined', async (t) => {
  const b = await broker(t, {});
  const peer = await open(t, b.url, true);
  t.equal(peer.ws.extensions, '', 'no extension negotiated');
  t.same(await peer.request({ id: 1, cmd: ['PING'] }), { id: 1, result: 'PONG' });
});

t.test('SLUICE_WS_COMPRESSION: large replies cross the wire compressed, with 1 KiB windows', async (t) => {
  const b = await broker(t, { 'ws-compression': true });
  const peer = await open(t, b.url, true);
  t.equal(peer.ws.extensions, 'permessage-deflate');
  t.match(negotiated(peer), {
    server_max_window_bits: 10,
    server_no_context_takeover: true,
    client_no_context_takeover: true,
  });
  t.same(await peer.request({ id: 1, cmd: ['SET', 'big', VALUE] }), { id: 1, result: 'OK' });
  const before = bytesRead(peer);
  t.same(await peer.request({ id: 2, cmd: ['GET', 'big'] }), { id: 2, result: VALUE });
  const wire = bytesRead(peer) - before;
  t.ok(wire < VALUE.length / 10, `the ${VALUE.length}-byte reply took ${wire} bytes on the wire`);
  t.same(await peer.request({ id: 3, cmd: ['PING'] }), { id: 3, result: 'PONG' }, 'small replies still work');
});

t.test('a client that offers no client_max_window_bits (as Firefox) is served compressed', async (t) => {
  const b = await broker(t, { 'ws-compression': true });
  // ws's client leaves client_max_window_bits out of its offer when the option is false (@types/ws says number).
  const peer = await open(t, b.url, { clientMaxWindowBits: false as unknown as number });
  t.equal(peer.ws.extensions, 'permessage-deflate');
  t.same(await peer.request({ id: 1, cmd: ['ECHO', 'hi'.repeat(2000)] }), {
    id: 1,
    result: 'hi'.repeat(2000),
  });
});

t.test(
  'a compressed message that inflates past SLUICE_WS_MAX_FRAME_BYTES closes its socket with 1009',
  async (t) => {
    const b = await broker(t, { 'ws-compression': true, 'ws-max-frame-bytes': 64 * 1024 });
    const bystander = await open(t, b.url, true);
    const bomb = await open(t, b.url, true);
    // 8 MiB of JSON compresses to a few KiB: well under the frame limit on the wire, far over it inflated.
    const inflated = JSON.stringify({ id: 1, cmd: ['ECHO', 'a'.repeat(8 * 1024 * 1024)] });
    const socket = (bomb.ws as unknown as { _socket: { bytesWritten: number } })._socket;
    const before = socket.bytesWritten;
    bomb.ws.send(inflated, { compress: true });
    t.match(await bomb.closed, { code: 1009, reason: /SLUICE_WS_MAX_FRAME_BYTES/ });
    const wire = socket.bytesWritten - before;
    t.ok(wire < 64 * 1024, `the message took ${wire} bytes on the wire, under the limit`);
    t.same(
      await bystander.request({ id: 2, cmd: ['PING'] }),
      { id: 2, result: 'PONG' },
      'the others are served',
    );
    t.same(
      await bystander.request({ id: 3, cmd: ['ECHO', 'x'.repeat(2000)] }),
      { id: 3, result: 'x'.repeat(2000) },
      'compressed requests under the limit work',
    );
  },
);
