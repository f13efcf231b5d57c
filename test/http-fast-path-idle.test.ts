// The fast path's idle sweep (broker/http/fast-path.ts) on a manual clock: real sockets on a bare node:http server,
// time driven to the millisecond. (http-fast-path.test.ts checks the same timeouts end to end in real time.)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { type FastHost, FastHttp, type FastResponse } from '../broker/http/fast-path.js';
import { rawConnect, type RawClient } from './helpers/load.js';
import { ManualClock } from './helpers/manual-clock.js';
import { sleep, waitFor } from './helpers/time.js';

const KEEP_ALIVE_MS = 300;
const HEADERS_MS = 800;
const REQUEST = 'GET /ping HTTP/1.1\r\nHost: sluice\r\n\r\n';

/** A bare server whose fast path answers every request with 200 `ok`, or holds it while `hold` is set. */
async function start(t: Test) {
  const clock = new ManualClock();
  const held: FastResponse[] = [];
  const state = { hold: false, served: 0 };
  const host: FastHost = {
    serve(_request, response) {
      state.served++;
      if (state.hold) held.push(response);
      else response.writeHead(200, ['Content-Length', '2']).end('ok');
      return true;
    },
    upgrade: () => false,
  };
  const server = createServer();
  const fast = new FastHttp(server, host, {
    maxHeaderBytes: 16 * 1024,
    maxBodyBytes: 1024,
    headersTimeoutMs: HEADERS_MS,
    keepAliveTimeoutMs: KEEP_ALIVE_MS,
    clock,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    fast.closeAll();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { clock, held, state, url };
}

/** Whether the server closed `client` within `ms` of real time (the sweep's destroy reaches the client at once). */
function closedWithin(client: RawClient, ms: number): Promise<boolean> {
  return Promise.race([client.closed.then(() => true), sleep(ms).then(() => false)]);
}

/** Waits until the server answered `count` requests on `client`. */
async function answered(client: RawClient, count: number): Promise<void> {
  await waitFor(() => (client.received().match(/HTTP\/1\.1 200/g)?.length ?? 0) >= count, 1000, {
    everyMs: 4,
  });
}

t.test('an idle connection is closed by the sweep exactly once the keep-alive timeout passed', async (t) => {
  const { clock, url } = await start(t);
  const client = await rawConnect(url);
  t.teardown(() => client.socket.destroy());
  client.socket.write(REQUEST);
  await answered(client, 1);
  t.match(client.received(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Keep-Alive: timeout=0/, 'answered, kept alive');
  // The sweep runs every quarter of the shorter timeout (75 ms): at 75, 150, 225 and 300 ms.
  clock.advance(KEEP_ALIVE_MS - 1);
  t.notOk(await closedWithin(client, 50), 'open 1 ms before the keep-alive timeout');
  clock.advance(1);
  t.ok(await closedWithin(client, 2000), 'closed at the keep-alive timeout');
  t.equal(clock.pending, 1, 'the sweep still runs');
  // The server's own 'close' event (which forgets the connection) lands in the same turn as the client's, or after.
  await sleep(20);
  clock.advance(75);
  t.equal(clock.pending, 0, 'and stops at its next run, with no connection left');
});

t.test('a connection with a request in flight is never closed as idle', async (t) => {
  const { clock, held, state, url } = await start(t);
  state.hold = true;
  const client = await rawConnect(url);
  t.teardown(() => client.socket.destroy());
  client.socket.write(REQUEST);
  await waitFor(() => state.served > 0, 1000, { everyMs: 4 });
  clock.advance(HEADERS_MS * 10);
  t.notOk(await closedWithin(client, 50), 'held for ten headers timeouts, still open');
  held[0]!.writeHead(200, ['Content-Length', '2']).end('ok');
  await answered(client, 1);
  clock.advance(KEEP_ALIVE_MS - 1);
  t.notOk(await closedWithin(client, 50), 'the keep-alive timeout counts from the answer');
  clock.advance(75);
  t.ok(await closedWithin(client, 2000), 'then it is closed');
});
