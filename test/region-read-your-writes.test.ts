// Read-your-writes through a read region whose replica really lags (100–300 ms per chunk on the replication link):
// the official @upstash/redis client, a client that sends stale tokens as @upstash/redis 1.34.5–1.38 did, a
// WebSocket, and Sluice's own client over both transports. A direct reader of the replica at the same moments shows
// the lag is there.
import { Redis as Upstash } from '@upstash/redis';
import t from 'tap';
import { WebSocket } from 'ws';
import { createClient, type WebSocketConstructor } from '../client/index.js';
import type { Broker } from '../broker/lifecycle/broker.js';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { callsSince, commandCalls, readRegionFlags, type Regions, startRegions } from './helpers/regions.js';
import { sleep, waitFor } from './helpers/time.js';
import { Peer } from './helpers/ws.js';

t.setTimeout(180000);

// Reads may wait up to 1 s for the replica: with 100–300 ms of link delay most are then served by the replica
// after a wait, the path this file is about (the primary fallback has its own tests in region-waits).
const regions: Regions = await startRegions(t.teardown, { readFlags: { 'sync-wait-ms': 1000 } });
const { replica, readBroker } = regions;
// A second read-region broker without the per-auth-token floor: what holds there holds by the sync token alone.
const tokenOnly: Broker = await startTestBroker(regions.primary.url, {
  flags: readRegionFlags(replica.url, { 'sync-wait-ms': 1000, 'sync-per-token-floor': false }),
});
t.teardown(() => tokenOnly.close());
const SYNC = 'upstash-sync-token';
/** Rounds of each write-then-read loop after the first test (each waits ~200 ms for the replica). */
const ROUNDS = 20;

t.test(
  '@upstash/redis: 200 write-then-read rounds all see their write; the replica alone is stale',
  async (t) => {
    const lanes = 4;
    const rounds = 50;
    const before = await commandCalls(replica.client());
    let seen = 0;
    let staleDirect = 0;
    const wrong: string[] = [];
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        // one client per lane, as one function instance: its token is its own; half on the broker without floor
        const url = lane % 2 === 0 ? readBroker.url : tokenOnly.url;
        const redis = new Upstash({ url, token: TOKEN, enableTelemetry: false });
        const key = `ryw:${lane}`;
        for (let i = 0; i < rounds; i++) {
          await redis.set(key, `${lane}-${i}`);
          const [got, direct] = await Promise.all([redis.get<string>(key), replica.client().get(key)]);
          if (got === `${lane}-${i}`) seen++;
          else wrong.push(`${key} round ${i}: got ${String(got)}`);
          if (direct !== `${lane}-${i}`) staleDirect++;
        }
      }),
    );
    t.same(wrong, [], 'no read missed its own write');
    t.equal(seen, lanes * rounds);
    t.ok(
      staleDirect > 0,
      `the replica read directly was stale in ${staleDirect} of ${lanes * rounds} rounds`,
    );
    // minus the direct reader's own GETs, one per round
    const onReplica = (await callsSince(replica.client(), before, 'get')) - lanes * rounds;
    t.ok(
      onReplica >= (lanes * rounds) / 2,
      `${onReplica} of the ${lanes * rounds} reads were served by the replica (after waiting for it)`,
    );
  },
);

t.test('every response carries a fresh token, reads and errors included', async (t) => {
  const tokens = new Set<string>();
  const replies = [
    await post(readBroker.url, '/', ['set', 'tok', '1']),
    await post(readBroker.url, '/', ['get', 'tok']),
    await post(readBroker.url, '/pipeline', [
      ['get', 'tok'],
      ['get', 'tok'],
    ]),
    await post(readBroker.url, '/', ['lpush', 'tok', 'x']),
  ];
  t.same(
    replies.map((r) => r.status),
    [200, 200, 200, 400],
  );
  for (const reply of replies) {
    const token = reply.headers.get(SYNC);
    t.ok(token, `${reply.text}: has a token`);
    tokens.add(token ?? '');
  }
  t.equal(tokens.size, replies.length, 'each one different');
});

/**
 * `rounds` of SET then GET sending the token of the response before last, as @upstash/redis 1.34.5–1.38 did, with
 * `pauseMs` between rounds.
 */
async function staleTokenRounds(url: string, key: string, rounds = ROUNDS, pauseMs = 0): Promise<string[]> {
  // Those versions sent the token of response N with request N+2, so a read after a write carries the token of the
  // response before the write (or "" at first).
  const tokens: string[] = [];
  const send = async (body: unknown[]): Promise<unknown> => {
    const reply = await post(url, '/pipeline', [body], { [SYNC]: tokens.at(-2) ?? '' });
    tokens.push(reply.headers.get(SYNC) ?? '');
    return reply.body;
  };
  const wrong: string[] = [];
  for (let i = 0; i < rounds; i++) {
    await send(['set', key, String(i)]);
    const got = (await send(['get', key])) as [{ result: string }];
    if (got[0]?.result !== String(i)) wrong.push(`round ${i}: ${JSON.stringify(got)}`);
    await sleep(pauseMs);
  }
  return wrong;
}

t.test(
  'stale tokens, as @upstash/redis 1.34.5–1.38 sends them, read their writes thanks to the floor',
  async (t) => {
    t.same(await staleTokenRounds(readBroker.url, 'stale'), [], 'every read saw the write before it');
    // The control: without the per-auth-token floor the same client reads stale values. Its reads carry the token
    // of the read before (never a write's), so they are tokenless ones: paced so that the replica has the round
    // before and is measured fresh (within SLUICE_REPLICA_MAX_LAG_MS), they go to it before it has this round's.
    const wrong = await staleTokenRounds(tokenOnly.url, 'stale:nofloor', 10, 400);
    t.ok(wrong.length > 0, `without the floor, ${wrong.length} of 10 reads missed their write`);
  },
);

t.test('WebSocket: a read sent after a write on the same socket sees it', async (t) => {
  const peer = await Peer.open(tokenOnly.url);
  t.teardown(() => peer.close());
  const wrong: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // sent back to back, without waiting for the write's reply
    const [set, get] = await Promise.all([
      peer.request({ cmd: ['SET', 'ws:k', String(i)] }),
      peer.request({ cmd: ['GET', 'ws:k'] }),
    ]);
    if (set['result'] !== 'OK' || get['result'] !== String(i))
      wrong.push(`round ${i}: ${JSON.stringify([set, get])}`);
  }
  t.same(wrong, [], 'each GET saw the SET sent before it');
});

t.test("Sluice's client carries the token over HTTP and WebSocket", async (t) => {
  // HTTP: each request sends the token of the response before it (recorded by a wrapping fetch)
  const exchanges: { sent: string | null; received: string | null }[] = [];
  const recording = async (url: string, init: RequestInit): Promise<Response> => {
    const sent = new Headers(init.headers).get(SYNC);
    const response = await fetch(url, init);
    exchanges.push({ sent, received: response.headers.get(SYNC) });
    return response;
  };
  const ws = WebSocket as unknown as WebSocketConstructor;
  for (const transport of ['http', 'ws'] as const) {
    const redis = createClient({
      url: readBroker.url,
      token: TOKEN,
      transport,
      WebSocket: ws,
      fetch: recording,
    });
    t.teardown(() => redis.close());
    const wrong: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await redis.set(`thin:${transport}`, String(i));
      const got = await redis.get(`thin:${transport}`);
      if (got !== String(i)) wrong.push(`round ${i}: ${String(got)}`);
    }
    t.same(wrong, [], `${transport}: every read saw the write before it`);
  }
  t.equal(exchanges.length, 2 * ROUNDS, `HTTP: ${2 * ROUNDS} requests`);
  t.equal(exchanges[0]?.sent, '', 'the first request sends an empty token');
  const carried = exchanges.slice(1).filter((e, i) => e.sent === exchanges[i]!.received && e.sent !== '');
  t.equal(carried.length, 2 * ROUNDS - 1, 'every later request sent the token of the response before it');
});

t.test("Sluice's client keeps the newest token when a read's response lands after a write's", async (t) => {
  // The read's response is held back until the write was answered: it carries the older position.
  let release: (() => void) | undefined;
  const exchanges: { sent: string; received: string }[] = [];
  const holding = async (url: string, init: RequestInit): Promise<Response> => {
    const exchange = { sent: new Headers(init.headers).get(SYNC) ?? '', received: '' };
    exchanges.push(exchange);
    const response = await fetch(url, init);
    exchange.received = response.headers.get(SYNC) ?? '';
    if (exchanges.length === 2) await new Promise<void>((resolve) => (release = resolve));
    return response;
  };
  const redis = createClient({ url: tokenOnly.url, token: TOKEN, fetch: holding });
  t.teardown(() => redis.close());
  await redis.set('mono', 'old'); // request 0
  const lateRead = redis.get('mono'); // request 1: its response is held
  await waitFor(() => release !== undefined, 5000, { what: 'the read to be answered (and held)' });
  await redis.set('mono', 'new'); // request 2
  release!();
  t.equal(await lateRead, 'old');
  t.equal(await redis.get('mono'), 'new', 'the next read (request 3) sees the write');
  const offset = (token: string) => Number(token.split('.')[2]);
  t.ok(
    offset(exchanges[2]!.received) > offset(exchanges[1]!.received),
    'the late read carried an older position',
  );
  t.equal(
    exchanges[3]!.sent,
    exchanges[2]!.received,
    "request 3 carried the write's token, not the late read's",
  );
});

t.test('WebSocket: the per-auth-token floor holds across sockets and transports', async (t) => {
  // A function's next invocation opens a new socket: its reads are floored by the auth token's newest write at
  // this broker (SLUICE_SYNC_PER_TOKEN_FLOOR), whichever transport wrote.
  const wrong: string[] = [];
  for (let i = 0; i < ROUNDS / 2; i++) {
    const writer = await Peer.open(readBroker.url);
    await writer.request({ cmd: ['SET', 'ws:across', `ws-${i}`] });
    await writer.close();
    const reader = await Peer.open(readBroker.url);
    const got = await reader.request({ cmd: ['GET', 'ws:across'] });
    if (got['result'] !== `ws-${i}`) wrong.push(`after a WS write, round ${i}: ${JSON.stringify(got)}`);
    await post(readBroker.url, '/', ['set', 'ws:across', `http-${i}`]);
    const again = await reader.request({ cmd: ['GET', 'ws:across'] });
    if (again['result'] !== `http-${i}`)
      wrong.push(`after an HTTP write, round ${i}: ${JSON.stringify(again)}`);
    await reader.close();
  }
  t.same(wrong, [], 'every read on another socket saw the write');
});
