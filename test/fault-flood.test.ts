// Floods that once made the broker hold one Buffer object per byte (issue 18): a WebSocket message as 1-byte
// fragments, a large frame one byte per TCP write, an HTTP body one byte per TCP write. The broker runs as its own
// process so that its RSS is its own; while each flood runs, another client's POST / is served.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import t, { type Test } from 'tap';
import { post, spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { rawConnect, type RawClient } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { freePort } from './helpers/topology.js';
import { closeOf, frame, serverFrames } from './helpers/ws-raw.js';
import { sleep, waitFor } from './helpers/time.js';

/**
 * What a flood may add to the broker's RSS. Without bounds a 10 MiB message in 1-byte pieces held ~10 million
 * Buffers (GBs). With them: ws holds at most 16,384 fragments of a message and 26,215 reads of an incomplete frame
 * (SLUICE_WS_MAX_FRAME_BYTES / 400), a few hundred bytes each, so under ~15 MB per socket; an HTTP body is one
 * buffer of at most its Content-Length. 64 MB leaves room for V8's heap growing under the load itself.
 */
const RSS_BOUND_BYTES = 64 * 1024 * 1024;

const redis = await startRedis();
t.teardown(() => redis.stop());
const port = await freePort();
const broker = await spawnBrokerProcess([
  ...['--port', String(port), '--admin-port', String(await freePort()), '--redis-url', redis.url],
  ...['--token', TOKEN, '--log-level', 'warn'],
]);
t.teardown(() => broker.stop());
const url = `http://127.0.0.1:${port}`;

function brokerRss(): number {
  const status = readFileSync(`/proc/${broker.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/**
 * Runs `flood` while another client sends POST / every 50 ms (each must be answered) and resolves with the broker's
 * peak RSS growth over it.
 */
async function whileFlooding(
  t: Test,
  flood: (stop: () => boolean) => Promise<void>,
): Promise<{ grownBytes: number }> {
  const before = brokerRss();
  let peak = before;
  let done = false;
  const probes: Promise<boolean>[] = [];
  const prober = (async () => {
    while (!done) {
      peak = Math.max(peak, brokerRss());
      probes.push(
        post(url, '/', ['ECHO', 'served']).then(
          (r) => r.status === 200 && (r.body as { result?: string }).result === 'served',
        ),
      );
      await sleep(50);
    }
  })();
  await flood(() => done);
  done = true;
  await prober;
  const answers = await Promise.all(probes);
  t.ok(answers.length >= 1, `${answers.length} POST / while flooding`);
  t.ok(
    answers.every((ok) => ok),
    'every POST / from another client was served',
  );
  peak = Math.max(peak, brokerRss());
  return { grownBytes: peak - before };
}

/** A raw WebSocket after its 101. */
async function upgraded(): Promise<RawClient> {
  const client = await rawConnect(url);
  client.socket.setNoDelay(true);
  client.socket.write(
    `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
  );
  t.ok(await waitFor(() => client.received().includes('\r\n\r\n'), 5000), 'upgraded');
  return client;
}

function closeFrameOf(client: RawClient): { code: number; reason: string } | undefined {
  const bytes = Buffer.from(client.received(), 'latin1');
  const close = serverFrames(bytes, bytes.indexOf('\r\n\r\n') + 4).find((f) => f.opcode === 8);
  return close && closeOf(close);
}

/** Writes `bytes` one byte per write() (each a TCP segment: no Nagle), yielding to the event loop every 32. */
async function trickle(socket: Socket, bytes: Buffer, stop: () => boolean): Promise<void> {
  for (let i = 0; i < bytes.length && !socket.destroyed && !stop(); i++) {
    if (!socket.write(bytes.subarray(i, i + 1))) await new Promise((r) => socket.once('drain', r));
    if (i % 32 === 31) await new Promise((r) => setImmediate(r));
  }
}

t.test('a message as 1-byte fragments is closed with 1008 past 16,384 fragments', async (t) => {
  const client = await upgraded();
  t.teardown(() => client.socket.destroy());
  const fragment = (opcode: number) => frame({ fin: false, opcode, payload: Buffer.from('x') });
  const { grownBytes } = await whileFlooding(t, async () => {
    client.socket.write(fragment(1));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => fragment(0)));
    // up to 10 MiB of fragments (the frame limit), or until the broker closes the socket
    for (let sent = 0; sent < 10 * 1024 * 1024 && !client.socket.destroyed; sent += 1000) {
      if (closeFrameOf(client)) break;
      if (!client.socket.write(batch))
        await Promise.race([new Promise((r) => client.socket.once('drain', r)), client.closed]);
      await new Promise((r) => setImmediate(r));
    }
    t.comment(`flood ended: ${client.received().length} bytes back, destroyed=${client.socket.destroyed}`);
    await Promise.race([client.closed, sleep(5000)]);
  });
  t.match(closeFrameOf(client), { code: 1008, reason: /^SLUICE_ERR_WS_TOO_MANY_PARTS / });
  t.ok(grownBytes < RSS_BOUND_BYTES, `RSS grew ${(grownBytes / 2 ** 20).toFixed(1)} MiB`);
});

t.test('a large frame written one byte per TCP write: bounded, then closed with 1008', async (t) => {
  const client = await upgraded();
  t.teardown(() => client.socket.destroy());
  // the header of a 10 MiB text frame (the frame limit), then its payload one byte at a time
  const whole = frame({ opcode: 1, payload: Buffer.alloc(10 * 1024 * 1024 - 64, 0x20) });
  const started = performance.now();
  const { grownBytes } = await whileFlooding(t, async () => {
    await trickle(
      client.socket,
      whole,
      () => closeFrameOf(client) !== undefined || performance.now() - started > 60_000,
    );
    await Promise.race([client.closed, sleep(5000)]);
  });
  t.match(closeFrameOf(client), { code: 1008, reason: /^SLUICE_ERR_WS_TOO_MANY_PARTS .*reads/ });
  t.ok(grownBytes < RSS_BOUND_BYTES, `RSS grew ${(grownBytes / 2 ** 20).toFixed(1)} MiB`);
});

t.test('an HTTP body written one byte per TCP write is held in one buffer', async (t) => {
  const client = await rawConnect(url);
  client.socket.setNoDelay(true);
  t.teardown(() => client.socket.destroy());
  const value = 'v'.repeat(256 * 1024);
  const body = JSON.stringify(['ECHO', value]);
  const request = Buffer.from(
    `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
  const { grownBytes } = await whileFlooding(t, async () => {
    await trickle(client.socket, request, () => false);
    await waitFor(() => client.received().includes(value), 10_000);
  });
  t.match(client.received(), /^HTTP\/1\.1 200 /, 'the trickled request was answered');
  t.ok(client.received().includes(`{"result":"${value}"}`), 'with its whole body');
  t.ok(grownBytes < RSS_BOUND_BYTES, `RSS grew ${(grownBytes / 2 ** 20).toFixed(1)} MiB`);
});
