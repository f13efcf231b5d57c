// The fixture the region tests stand on: the delaying relay really makes the replica lag, keeps the byte stream
// in order, and cutting it takes the replication link down.
import { once } from 'node:events';
import { type AddressInfo, createConnection, createServer } from 'node:net';
import t from 'tap';
import { startDelayRelay } from './helpers/delay-relay.js';
import { replicaCaughtUp, replication, startReplica } from './helpers/regions.js';
import { startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';

t.test('a write reaches the replica only after the relay delay, in order', async (t) => {
  const primary = await startRedis();
  t.teardown(() => primary.stop());
  const relay = await startDelayRelay({ port: primary.port }, { minMs: 100, maxMs: 300 });
  t.teardown(() => relay.close());
  const replica = await startReplica(relay);
  t.teardown(() => replica.stop());

  let staleAtOnce = 0;
  for (let i = 0; i < 20; i++) {
    await primary.client().set('k', String(i));
    if ((await replica.client().get('k')) !== String(i)) staleAtOnce++;
  }
  t.ok(staleAtOnce >= 15, `the replica was stale right after ${staleAtOnce}/20 writes`);
  // INCRs applied in order: the replica ends on exactly the primary's count
  await Promise.all(Array.from({ length: 200 }, () => primary.client().incr('n')));
  await replicaCaughtUp({ primary, replica });
  t.equal(await replica.client().get('n'), '200');

  relay.cut();
  await waitFor(async () => (await replication(replica.client())).master_link_status === 'down', 10000, {
    what: 'the link to go down',
  });
  await primary.client().set('k', 'while-cut');
  relay.heal();
  await waitFor(async () => (await replica.client().get('k')) === 'while-cut', 20000, {
    what: 'the replica to resync after heal',
  });
  t.pass('resynced after the link came back');
});

t.test('bytes keep their order under random per-chunk delays, and a FIN follows the data', async (t) => {
  // an upper-casing echo that answers once the client's side is closed
  const server = createServer((socket) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
    socket.on('end', () => socket.end(got.toUpperCase()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const relay = await startDelayRelay(
    { port: (server.address() as AddressInfo).port },
    { minMs: 5, maxMs: 60 },
  );
  t.teardown(() => relay.close());
  const client = createConnection({ port: relay.port, host: '127.0.0.1' });
  const sent = Array.from({ length: 200 }, (_, i) => `chunk-${i};`);
  for (const piece of sent) {
    client.write(piece);
    await sleep(1);
  }
  client.end();
  let echoed = '';
  client.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
  await once(client, 'close');
  t.equal(echoed, sent.join('').toUpperCase(), '200 writes, each delayed 5-60 ms, arrive whole and in order');
  t.ok(
    await waitFor(() => relay.connections() === 0, 5000),
    'the relayed pair is forgotten once both sides closed',
  );
});
