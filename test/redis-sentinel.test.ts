// Sentinel: a primary, a replica and three Sentinels; a forced failover during writes through the broker.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { openStream } from './helpers/sse.js';
import { baseArgs, freePort, type ServerProcess, spawnServer, tempDir } from './helpers/topology.js';
import { sleep, waitFor } from './helpers/time.js';

const dir = tempDir('sluice-sentinel-');
t.teardown(() => dir.remove());
const processes: ServerProcess[] = [];
t.teardown(() => Promise.all(processes.map((p) => p.stop())));
const clients: Redis[] = [];
t.teardown(() => {
  for (const client of clients) client.disconnect();
});
const clientOf = (port: number) => {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  clients.push(client);
  return client;
};

const [primaryPort, replicaPort, ...sentinelPorts] = (await Promise.all(
  Array.from({ length: 5 }, () => freePort()),
)) as [number, number, number, number, number];
processes.push(await spawnServer(baseArgs(primaryPort), primaryPort));
processes.push(
  await spawnServer([...baseArgs(replicaPort), '--replicaof', '127.0.0.1', String(primaryPort)], replicaPort),
);
for (const port of sentinelPorts) {
  // Sentinel rewrites its own config file, so each gets a writable one.
  const file = join(dir.path, `sentinel-${port}.conf`);
  writeFileSync(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir.path}`,
      `sentinel monitor mymaster 127.0.0.1 ${primaryPort} 2`,
      'sentinel down-after-milliseconds mymaster 5000',
      'sentinel failover-timeout mymaster 20000',
      'sentinel parallel-syncs mymaster 1',
      '',
    ].join('\n'),
  );
  processes.push(await spawnServer([file, '--sentinel'], port));
}
const primary = clientOf(primaryPort);
const replica = clientOf(replicaPort);
const sentinel = clientOf(sentinelPorts[0]);

await waitFor(
  async () =>
    ((await replica.info('replication')) as string).includes('master_link_status:up') ? true : undefined,
  20_000,
  { what: 'the replica to sync', everyMs: 50, retryErrors: true },
);
// SENTINEL FAILOVER needs a replica the Sentinel has seen healthy (else -NOGOODSLAVE).
await waitFor(
  async () => {
    const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', 'mymaster')) as string[][];
    return replicas.some(
      (r) => r[r.indexOf('flags') + 1] === 'slave' && r[r.indexOf('master-link-status') + 1] === 'ok',
    )
      ? true
      : undefined;
  },
  20_000,
  { what: 'the Sentinel to know the replica', everyMs: 50, retryErrors: true },
);

const masterPort = async () =>
  Number(((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[])[1]);

/** How many of `keys` exist on the new primary. */
async function exists(keys: readonly string[]): Promise<number> {
  return keys.length === 0 ? 0 : Number(await replica.call('EXISTS', ...keys));
}

const GRACE_MS = 250;

const mainConnections = async (client: Redis) =>
  ((await client.client('LIST')) as string).split('\n').filter((l) => l.includes(' name=sluice-main-'))
    .length;

t.test(
  'a forced failover during writes: fast retryable errors, then the new primary; nothing acked lands on the old one',
  async (t) => {
    t.equal(await masterPort(), primaryPort);
    const broker = await startTestBroker('redis://sentinel-managed.invalid:6379', {
      flags: {
        'redis-sentinels': sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
        'redis-sentinel-name': 'mymaster',
      },
    });
    t.teardown(() => broker.close());
    t.equal(broker.notReadyReason(), undefined);
    t.equal(await mainConnections(primary), 4, 'the pool is on the primary');
    // A subscription made before the failover: the shared subscriber follows the primary too and resubscribes.
    const stream = await openStream(broker.url, '/subscribe/events');
    t.teardown(() => stream.close());
    await stream.waitFor((line) => line === 'data: subscribe,events,1');

    interface Write {
      readonly key: string;
      readonly status: number;
      readonly code: string | undefined;
      readonly ackedAt: number;
      readonly ms: number;
    }
    const writes: Write[] = [];
    let stop = false;
    let next = 0;
    const writer = async () => {
      while (!stop) {
        const key = `sentinel:${next++}`;
        const started = Date.now();
        let response: Response;
        let body: { code?: string };
        try {
          response = await fetch(`${broker.url}/set/${key}/v`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKEN}` },
          });
          body = (await response.json()) as { code?: string };
        } catch {
          return; // The broker closed (a failed assertion ended the test early).
        }
        writes.push({
          key,
          status: response.status,
          code: body.code,
          ackedAt: Date.now(),
          ms: Date.now() - started,
        });
        // Errors come back at once; pace the retries like a client would instead of spinning.
        if (response.status !== 200) await sleep(10);
      }
    };
    const writers = Array.from({ length: 4 }, writer);
    t.teardown(() => {
      stop = true;
    });

    // The switch, as clients see it: Sentinel publishes +switch-master. (GET-MASTER-ADDR-BY-NAME already names the
    // promoted replica one Sentinel tick earlier, while the old primary still takes writes.)
    const watcher = new Redis({ host: '127.0.0.1', port: sentinelPorts[0] });
    watcher.on('error', () => {});
    clients.push(watcher);
    let switchedAt = 0;
    await watcher.subscribe('+switch-master');
    watcher.on('message', () => {
      switchedAt ||= Date.now();
    });

    await waitFor(() => (writes.length >= 200 ? true : undefined), 20_000, {
      what: 'writes before the failover',
      everyMs: 50,
      retryErrors: true,
    });
    t.equal(await sentinel.call('SENTINEL', 'FAILOVER', 'mymaster'), 'OK');
    await waitFor(async () => ((await masterPort()) === replicaPort ? true : undefined), 20_000, {
      what: 'Sentinel to name the replica as primary',
      everyMs: 50,
      retryErrors: true,
    });
    const promotedAt = Date.now();
    await waitFor(() => (switchedAt > 0 ? true : undefined), 20_000, {
      what: '+switch-master',
      everyMs: 50,
      retryErrors: true,
    });

    // The broker moves within seconds: a write acknowledged after the switch exists on the new primary.
    await waitFor(
      async () => {
        const after = writes.find((w) => w.status === 200 && w.ackedAt > switchedAt + GRACE_MS);
        return after && (await replica.exists(after.key)) === 1 ? true : undefined;
      },
      15_000,
      { what: 'a write acknowledged by the new primary', everyMs: 50, retryErrors: true },
    );
    await sleep(1500);
    stop = true;
    await Promise.all(writers);

    await waitFor(async () => ((await mainConnections(replica)) === 4 ? true : undefined), 20_000, {
      what: 'the pool to settle',
      everyMs: 50,
      retryErrors: true,
    });
    t.equal(await mainConnections(primary), 0, 'no pool connection stays on the demoted primary');

    // Every write acknowledged after +switch-master is on the new primary. The grace covers a reply read from the
    // old primary in the same event-loop turn as the broker's own copy of +switch-master (this test and the broker
    // share one process).
    const acked = writes.filter((w) => w.status === 200 && w.ackedAt > switchedAt + GRACE_MS);
    t.ok(acked.length > 50, `${acked.length} writes acknowledged after the switch`);
    const present = await exists(acked.map((w) => w.key));
    t.equal(present, acked.length, 'every write acknowledged after the switch is on the new primary');

    // For the report: writes acknowledged between the promotion and +switch-master went to the old primary and
    // were lost, as Redis documents for Sentinel (asynchronous replication; clients learn of the switch last).
    const window = writes.filter(
      (w) => w.status === 200 && w.ackedAt > promotedAt && w.ackedAt <= switchedAt,
    );
    let firstMs: number | undefined;
    for (const w of writes.filter((w) => w.status === 200 && w.ackedAt > switchedAt)) {
      if ((await replica.exists(w.key)) === 1) {
        firstMs = w.ackedAt - switchedAt;
        break;
      }
    }
    t.comment(
      `+switch-master ${switchedAt - promotedAt} ms after the promotion was visible; ${window.length - (await exists(window.map((w) => w.key)))} of ${window.length} writes acknowledged in between are not on the new primary; first write on the new primary ${firstMs} ms after +switch-master`,
    );

    const failed = writes.filter((w) => w.status !== 200);
    const codes = new Set(failed.map((w) => `${w.status} ${w.code}`));
    t.comment(
      `${writes.length} writes, ${failed.length} refused during the switch: ${[...codes].join(', ')}`,
    );
    for (const code of codes)
      t.ok(
        code === '503 SLUICE_ERR_REDIS_UNAVAILABLE' || code === '502 SLUICE_ERR_REDIS_CONNECTION_LOST',
        `${code} is a fast unavailable/lost error`,
      );
    // PUBLISH through the broker until the subscriber, resubscribed on the new primary, hears one.
    await waitFor(
      async () => {
        await post(broker.url, '/', ['publish', 'events', 'after']);
        return stream.lines.includes('data: message,events,after') ? true : undefined;
      },
      20_000,
      { what: 'a message after the failover', everyMs: 50, retryErrors: true },
    );
    t.pass('the subscription survived the failover');
    t.match(
      await replica.client('LIST'),
      / name=sluice-subscriber /,
      'the shared subscriber is on the new primary',
    );
    const slowest = Math.max(...writes.map((w) => w.ms));
    t.ok(slowest < 4000, `no request hung (slowest ${slowest} ms)`);
  },
);
