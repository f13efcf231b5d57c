// RFC 6455 on the wire, from raw sockets: the handshake on both paths (fast path and node:http), frames sent with
// the upgrade, pings, the closing handshake, protocol errors and refused handshakes.
import type { Socket } from 'node:net';
import t from 'tap';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { parseRawResponse, rawConnect } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { closeOf, frame, type ServerFrame, serverFrames } from './helpers/ws-raw.js';
import { sleep, waitFor } from './helpers/time.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

/** RFC 6455 §1.3's example key and the accept value it must get. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function upgradeRequest(headers: Record<string, string> = {}, target = '/ws'): string {
  const all: Record<string, string> = {
    Host: 'localhost',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    Authorization: `Bearer ${TOKEN}`,
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, value]) => value !== '')
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `GET ${target} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

const command = (id: number, ...cmd: string[]) =>
  frame({ opcode: 1, payload: Buffer.from(JSON.stringify({ id, cmd })) });

/** A raw client: the server's 101 head and the frames after it, as they arrive (anything before the 101 is skipped). */
async function rawSocket(): Promise<{
  socket: Socket;
  head(): string;
  frames(): ServerFrame[];
  closed: Promise<number>;
}> {
  const client = await rawConnect(broker.url);
  const bytes = () => Buffer.from(client.received(), 'latin1');
  const headAt = () => bytes().indexOf('HTTP/1.1 101 ');
  const headEnd = () => (headAt() === -1 ? -1 : bytes().indexOf('\r\n\r\n', headAt()));
  return {
    socket: client.socket,
    closed: client.closed,
    head: () => (headEnd() === -1 ? '' : bytes().subarray(headAt(), headEnd()).toString('latin1')),
    frames: () => (headEnd() === -1 ? [] : serverFrames(bytes(), headEnd() + 4)),
  };
}

async function framesOf(
  client: Awaited<ReturnType<typeof rawSocket>>,
  count: number,
): Promise<ServerFrame[]> {
  t.ok(await waitFor(() => client.frames().length >= count, 5000), `${count} frame(s) arrived`);
  return client.frames();
}

const json = (f: ServerFrame | undefined) => JSON.parse(f?.payload.toString('utf8') ?? 'null');

t.test(
  'the 101 carries the RFC accept value, and frames sent with the upgrade request are read',
  async (t) => {
    await redis.client().set('proto:k', 'v');
    const client = await rawSocket();
    t.teardown(() => client.socket.destroy());
    client.socket.write(
      Buffer.concat([
        Buffer.from(upgradeRequest({ Connection: 'keep-alive, Upgrade' })),
        command(1, 'GET', 'proto:k'),
      ]),
    );
    const [reply] = await framesOf(client, 1);
    t.match(client.head(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    t.match(
      client.head(),
      new RegExp(`\r\nSec-WebSocket-Accept: ${ACCEPT.replace(/[+/]/g, '\\$&')}(\r\n|$)`),
    );
    t.notMatch(client.head(), /Sec-WebSocket-Protocol|Sec-WebSocket-Extensions/i);
    t.same(json(reply), { id: 1, result: 'v' });
  },
);

t.test('an upgrade after a REST request on the same connection, and one node:http reads', async (t) => {
  const afterRest = await rawSocket();
  t.teardown(() => afterRest.socket.destroy());
  const body = JSON.stringify(['PING']);
  afterRest.socket.write(
    `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
  await sleep(50);
  afterRest.socket.write(Buffer.concat([Buffer.from(upgradeRequest()), command(2, 'PING')]));
  const [pong] = await framesOf(afterRest, 1);
  t.same(json(pong), { id: 2, result: 'PONG' });

  // A header sent twice keeps the request off the fast path; node:http's 'upgrade' takes it the same way.
  const viaNode = await rawSocket();
  t.teardown(() => viaNode.socket.destroy());
  viaNode.socket.write(
    Buffer.concat([Buffer.from(upgradeRequest({ 'X-Twice': 'a\r\nX-Twice: b' })), command(3, 'PING')]),
  );
  const [reply] = await framesOf(viaNode, 1);
  t.match(
    viaNode.head(),
    new RegExp(`^HTTP/1\\.1 101 [^]*Sec-WebSocket-Accept: ${ACCEPT.replace(/[+/]/g, '\\$&')}`),
  );
  t.same(json(reply), { id: 3, result: 'PONG' });
});

t.test('a ping is answered with its payload; a frame split across writes still arrives', async (t) => {
  const client = await rawSocket();
  t.teardown(() => client.socket.destroy());
  client.socket.write(upgradeRequest());
  client.socket.write(frame({ opcode: 9, payload: Buffer.from('are you there') }));
  const bytes = command(4, 'ECHO', 'split');
  for (let i = 0; i < bytes.length; i += 3) {
    client.socket.write(bytes.subarray(i, i + 3));
    await sleep(1);
  }
  const [pong, reply] = await framesOf(client, 2);
  t.same(
    { opcode: pong!.opcode, payload: pong!.payload.toString() },
    { opcode: 10, payload: 'are you there' },
  );
  t.same(json(reply), { id: 4, result: 'split' });
});

t.test(
  'the closing handshake: the peer’s code (and, as ws does, its reason) is echoed, then the connection ends',
  async (t) => {
    const client = await rawSocket();
    client.socket.write(upgradeRequest());
    client.socket.write(
      frame({ opcode: 8, payload: Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from('done')]) }),
    );
    const [close] = await framesOf(client, 1);
    t.equal(close!.opcode, 8);
    t.same(closeOf(close!), { code: 4000, reason: 'done' });
    client.socket.end();
    t.ok(
      await Promise.race([client.closed.then(() => true), sleep(3000).then(() => false)]),
      'the server closed',
    );
  },
);

t.test('protocol errors close with their code and a reason naming the error', async (t) => {
  const cases: [string, Buffer, number, string][] = [
    [
      'an unmasked frame',
      frame({ opcode: 1, payload: Buffer.from('{}'), mask: null }),
      1002,
      'SLUICE_ERR_WS_PROTOCOL',
    ],
    [
      'a reserved bit',
      frame({ opcode: 1, payload: Buffer.from('{}'), rsv: 4 }),
      1002,
      'SLUICE_ERR_WS_PROTOCOL',
    ],
    ['bad UTF-8', frame({ opcode: 1, payload: Buffer.from([0xc3, 0x28]) }), 1007, 'SLUICE_ERR_WS_BAD_UTF8'],
  ];
  for (const [name, bytes, code, reason] of cases) {
    const client = await rawSocket();
    client.socket.write(upgradeRequest());
    client.socket.write(Buffer.concat([bytes, command(5, 'PING')]));
    const frames = await framesOf(client, 1);
    t.equal(frames.length, 1, `${name}: only the close frame`);
    t.equal(frames[0]!.opcode, 8, name);
    t.match(closeOf(frames[0]!), { code, reason: new RegExp(`^${reason} `) }, name);
    t.ok(
      await Promise.race([client.closed.then(() => true), sleep(3000).then(() => false)]),
      `${name}: closed`,
    );
  }
});

t.test('bad handshakes are refused with a JSON error and the version the broker speaks', async (t) => {
  const refusals: [string, string, number, string][] = [
    ['no key', upgradeRequest({ 'Sec-WebSocket-Key': '' }), 400, 'SLUICE_ERR_HTTP_BAD_HEADER'],
    ['a short key', upgradeRequest({ 'Sec-WebSocket-Key': 'c2hvcnQ=' }), 400, 'SLUICE_ERR_HTTP_BAD_HEADER'],
    ['version 8', upgradeRequest({ 'Sec-WebSocket-Version': '8' }), 400, 'SLUICE_ERR_HTTP_BAD_HEADER'],
    ['a POST', upgradeRequest().replace(/^GET/, 'POST'), 405, 'SLUICE_ERR_HTTP_METHOD'],
    ['a bad token', upgradeRequest({ Authorization: 'Bearer nope' }), 401, 'SLUICE_ERR_AUTH_INVALID'],
    ['another path', upgradeRequest({}, '/elsewhere'), 404, 'SLUICE_ERR_HTTP_NOT_FOUND'],
  ];
  for (const [name, request, status, code] of refusals) {
    const client = await rawConnect(broker.url);
    client.socket.write(request);
    await Promise.race([client.closed, sleep(3000)]);
    client.socket.destroy();
    const response = parseRawResponse(client.received());
    t.match(response, { status, body: { code } }, name);
    if (status === 400) t.match(response.head, /\r\nSec-WebSocket-Version: 13/i, `${name}: names version 13`);
  }
});

t.test('the first offered subprotocol is accepted', async (t) => {
  const client = await rawSocket();
  t.teardown(() => client.socket.destroy());
  client.socket.write(upgradeRequest({ 'Sec-WebSocket-Protocol': 'sluice.v1, other' }));
  t.ok(await waitFor(() => client.head() !== '', 5000));
  t.match(client.head(), /\r\nSec-WebSocket-Protocol: sluice\.v1(\r\n|$)/);
});

t.test('a peer that sends pings and reads nothing gets no pong buffered for each', async (t) => {
  const client = await rawSocket();
  t.teardown(() => client.socket.destroy());
  client.socket.write(upgradeRequest());
  await framesOf(client, 0);
  t.ok(await waitFor(() => client.head() !== '', 5000), 'upgraded');
  client.socket.pause();
  // 40 MB of pings with 120-byte payloads: far more pongs than loopback's socket buffers hold
  const ping = frame({ opcode: 9, payload: Buffer.alloc(120, 0x70) });
  const pings = 320_000;
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
  for (let sent = 0; sent < pings; sent += 1000) {
    if (!client.socket.write(batch)) await new Promise((resolve) => client.socket.once('drain', resolve));
  }
  client.socket.resume();
  client.socket.write(command(7, 'PING'));
  const reply = () => client.frames().find((f) => f.opcode === 1);
  t.ok(await waitFor(() => reply() !== undefined, 10000), 'the socket still answers');
  t.same(json(reply()), { id: 7, result: 'PONG' });
  const pongs = client.frames().filter((f) => f.opcode === 10).length;
  t.ok(pongs < pings / 2, `${pongs} pongs for ${pings} pings`);
});

t.test('a peer that shuts its side without a close frame is closed and forgotten', async (t) => {
  // the sockets of the tests before are destroyed in their teardowns; the broker sees them close a moment later
  t.ok(await waitFor(() => broker.ws.size === 0, 3000), 'no socket left open before');
  const client = await rawSocket();
  client.socket.write(Buffer.concat([Buffer.from(upgradeRequest()), command(8, 'PING')]));
  await framesOf(client, 1);
  t.equal(broker.ws.size, 1, 'the socket is open');
  client.socket.end();
  t.ok(
    await Promise.race([client.closed.then(() => true), sleep(3000).then(() => false)]),
    'the server ended',
  );
  t.ok(await waitFor(() => broker.ws.size === 0, 3000), 'and forgot the session');
  t.same(
    client.frames().map((f) => f.opcode),
    [1],
    'no frame after the reply',
  );
});
