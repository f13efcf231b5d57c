// The /ws heartbeat (broker/ws/ws-server.ts) on a manual clock: real WebSockets on a bare node:http server, pings
// sent exactly every SLUICE_WS_HEARTBEAT_MS, a socket that missed one pong dropped at the next. (ws-limits.test.ts
// checks the same end to end in real time, through a broker.)
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t, { type Test } from 'tap';
import type { Backend } from '../broker/exec/backend.js';
import { NO_TELEMETRY } from '../broker/telemetry.js';
import { createLogger } from '../broker/log.js';
import type { CommandPreparer } from '../broker/protocol/prepare.js';
import { WsServer } from '../broker/ws/ws-server.js';
import { ManualClock } from './helpers/manual-clock.js';
import { Peer } from './helpers/ws.js';
import { waitFor } from './helpers/time.js';

const HEARTBEAT_MS = 200;
const ADMIN = {
  name: 'test',
  right: 'admin',
  allow: undefined,
  deny: undefined,
  tenant: '',
  quotaKey: 't',
} as const;

/** A WsServer on `clock` behind a bare node:http server; no request is sent, so it needs no preparer or executor. */
async function start(t: Test, clock: ManualClock) {
  const ws = new WsServer(
    {
      preparer: {} as CommandPreparer,
      backends: () => ({}) as Backend,
      telemetry: NO_TELEMETRY,
      logger: createLogger('silent'),
      syncToken: () => 'sync',
    },
    {
      maxFrameBytes: 1024,
      maxInflight: 4,
      maxSockets: 4,
      sendBufferBytes: 64 * 1024,
      heartbeatMs: HEARTBEAT_MS,
      maxPipelineCommands: 4,
      clock,
    },
  );
  const server = createServer();
  server.on('upgrade', (req, socket: Socket, head: Buffer) =>
    ws.handleUpgrade(req, socket, head, { principal: ADMIN, query: '' }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    ws.close();
    server.close();
  });
  return { ws, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Counts the pings a peer received. */
function pings(peer: Peer): () => number {
  let count = 0;
  peer.ws.on('ping', () => count++);
  return () => count;
}

t.test(
  'pings go out every SLUICE_WS_HEARTBEAT_MS; a socket that missed a pong is dropped at the next',
  async (t) => {
    const clock = new ManualClock();
    const { ws, url } = await start(t, clock);
    const alive = await Peer.open(url);
    const dead = await Peer.open(url);
    t.teardown(() => {
      alive.ws.terminate();
      dead.ws.terminate();
    });
    const alivePings = pings(alive);
    dead.ws.pause(); // Reads nothing, so it never sees the ping nor answers it.
    t.equal(clock.pending, 1, 'one heartbeat timer for every socket');

    clock.advance(HEARTBEAT_MS - 1);
    t.notOk(await waitFor(() => alivePings() > 0, 100), 'no ping before the interval');
    clock.advance(1);
    t.ok(await waitFor(() => alivePings() === 1), 'the first ping at the interval');
    // The live peer's pong (ws answers pings itself) reaches the server before the next beat.
    await new Promise((resolve) => alive.ws.once('pong', resolve).ping());
    t.equal(ws.size, 2, 'nobody is dropped at the first beat');

    clock.advance(HEARTBEAT_MS);
    dead.ws.resume();
    t.equal(
      (await dead.closed).code,
      1006,
      'the silent socket is dropped at the next beat, without a close frame',
    );
    t.ok(await waitFor(() => alivePings() === 2), 'the live one got its second ping');

    // Several more beats: a socket that answers is never dropped.
    for (let beat = 3; beat <= 6; beat++) {
      await new Promise((resolve) => alive.ws.once('pong', resolve).ping());
      clock.advance(HEARTBEAT_MS);
      t.ok(await waitFor(() => alivePings() === beat), `ping ${beat}`);
    }
    t.equal(ws.size, 1, 'the live socket is still open');
  },
);

t.test('the heartbeat stops with the last socket', async (t) => {
  const clock = new ManualClock();
  const { ws, url } = await start(t, clock);
  const peer = await Peer.open(url);
  t.equal(clock.pending, 1, 'armed by the first socket');
  peer.ws.close();
  await peer.closed;
  t.ok(await waitFor(() => ws.size === 0), 'the socket is gone');
  t.equal(clock.pending, 0, 'and so is the timer');
});
