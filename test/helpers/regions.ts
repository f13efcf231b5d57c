// Read regions for tests: a primary and a replica redis-server, a delaying relay on the replication link (so the
// replica really lags), and two brokers: "primary region" (primary only) and "read region" (primary + replica),
// sharing one sync secret.
import type { Redis } from 'ioredis';
import type { Broker } from '../../broker/lifecycle/broker.js';
import { startTestBroker, type TestBrokerOptions } from './broker.js';
import { type DelayRelay, type RelayDelay, startDelayRelay } from './delay-relay.js';
import { startRedis, type TestRedis } from './redis.js';
import { waitFor } from './time.js';

export const SYNC_SECRET = 'test-sync-secret-of-this-deployment';

/** A primary, a replica behind a delaying relay, and the two brokers. */
export interface Regions {
  readonly primary: TestRedis;
  readonly replica: TestRedis;
  readonly relay: DelayRelay;
  /** SLUICE_REDIS_URL = primary. */
  readonly primaryBroker: Broker;
  /** SLUICE_REDIS_URL = primary, SLUICE_REPLICA_URL = replica. */
  readonly readBroker: Broker;
}

export interface RegionsOptions {
  /** Delay of each chunk on the replication link, both ways; default 100–300 ms. */
  readonly delay?: RelayDelay;
  /** Extra flags of the read-region broker (e.g. `sync-wait-ms`, `replica-max-lag-ms`). */
  readonly readFlags?: Record<string, string | number | boolean>;
  /** Options of both brokers (tokens, log lines). */
  readonly broker?: Omit<TestBrokerOptions, 'flags'>;
}

/** The read-region broker's flags for a replica (its primary is the broker's redis URL). */
export function readRegionFlags(
  replicaUrl: string,
  extra: Record<string, string | number | boolean> = {},
): Record<string, string | number | boolean> {
  return { 'replica-url': replicaUrl, 'sync-secret': SYNC_SECRET, ...extra };
}

/** Starts a replica of `primary` whose replication link runs through `relay`, and waits for its first sync. */
export async function startReplica(relay: DelayRelay): Promise<TestRedis> {
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(relay.port), '--repl-timeout', '60']);
  await waitFor(async () => (await replication(replica.client())).master_link_status === 'up', 20000, {
    what: 'the replica to finish its first sync through the relay',
  });
  return replica;
}

/** Starts everything; `teardown` is the test file's `t.teardown` (stops run in reverse order). */
export async function startRegions(
  teardown: (fn: () => unknown) => void,
  options: RegionsOptions = {},
): Promise<Regions> {
  const primary = await startRedis();
  teardown(() => primary.stop());
  const relay = await startDelayRelay({ port: primary.port }, options.delay ?? { minMs: 100, maxMs: 300 });
  teardown(() => relay.close());
  const replica = await startReplica(relay);
  teardown(() => replica.stop());
  const primaryBroker = await startTestBroker(primary.url, {
    ...options.broker,
    flags: { 'sync-secret': SYNC_SECRET },
  });
  teardown(() => primaryBroker.close());
  const readBroker = await startTestBroker(primary.url, {
    ...options.broker,
    flags: readRegionFlags(replica.url, options.readFlags),
  });
  teardown(() => readBroker.close());
  return { primary, replica, relay, primaryBroker, readBroker };
}

/** `INFO replication` as field → value. */
export async function replication(redis: Redis): Promise<Record<string, string>> {
  const info = (await redis.info('replication')) as string;
  const fields: Record<string, string> = {};
  for (const line of info.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** Calls of each command so far, from `INFO commandstats` (`get` → calls of GET). */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = (await redis.info('commandstats')) as string;
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

/** Calls of the named commands since `before` (a `commandCalls` snapshot), summed. */
export async function callsSince(
  redis: Redis,
  before: Map<string, number>,
  ...names: string[]
): Promise<number> {
  const now = await commandCalls(redis);
  return names.reduce((sum, name) => sum + (now.get(name) ?? 0) - (before.get(name) ?? 0), 0);
}

/** SIGSTOP / SIGCONT the replica (it hangs with its sockets open). */
export const stopReplica = (regions: Regions): void => regions.replica.pause();
export const continueReplica = (regions: Regions): void => regions.replica.resume();

/** Promotes the replica (`REPLICAOF NO ONE`): a failover as Sentinel would do it. Its replication ID changes. */
export async function promoteReplica(replica: TestRedis): Promise<void> {
  await replica.client().call('REPLICAOF', 'NO', 'ONE');
  await waitFor(async () => (await replication(replica.client())).role === 'master', 5000, {
    what: 'the promoted replica to report role:master',
  });
}

/** Waits until the replica has applied everything the primary has written so far. */
export async function replicaCaughtUp(
  regions: Pick<Regions, 'primary' | 'replica'>,
  timeoutMs = 10000,
): Promise<void> {
  const target = Number((await replication(regions.primary.client())).master_repl_offset);
  await waitFor(
    async () => Number((await replication(regions.replica.client())).slave_repl_offset) >= target,
    timeoutMs,
    { what: `the replica to reach offset ${target}` },
  );
}
