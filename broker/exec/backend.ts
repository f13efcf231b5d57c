// One Redis and the broker's connections to it — main pool, blocking pool, shared subscriber, script users — behind
// one executor. The broker's own Redis and each tenant of the tokens file get one such stack, built by openStack.
import type { PrimaryPosition } from '../redis/primary-position.js';
import { ReplicaWatcher } from './replica-watcher.js';
import { RegionRouter } from './region-router.js';
import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { SubscriberHub } from '../pubsub/hub.js';
import type { PubSubHub, SubscriptionKind } from '../pubsub/types.js';
import { BlockingPool } from '../redis/blocking-pool.js';
import type { ConnectionBudget } from '../redis/connection-budget.js';
import { Pool } from '../redis/pool.js';
import { firstNodeTarget, nodeTarget, type RedisTarget } from '../redis/target.js';
import type { Telemetry } from '../telemetry.js';
import type { Admission } from './admission.js';
import { ClusterExecutor } from './cluster-executor.js';
import { Executor } from './executor.js';
import type { RequestRunner } from './request-runner.js';
import { ScriptUsers } from './script-users.js';

/** The pub/sub side of a backend, as SSE and WebSockets use it (SubscriberHub's methods). */
export interface StreamHub extends PubSubHub {
  /** Why a subscription would be refused before anything is sent, or undefined. */
  check(kind: SubscriptionKind, name: Buffer): SluiceError | undefined;
  /** Opens the subscriber connection if needed; rejects with an error saying why it cannot. */
  connect(): Promise<void>;
  noteDropped(count?: number): void;
}

/** What a caller's requests, subscriptions and MONITOR streams run on: the broker's own Redis, or its tenant's. */
export interface Backend {
  /** DEFAULT_TENANT ('') for the broker's own Redis, else the tenant's name from the tokens file. */
  readonly tenant: string;
  readonly requests: RequestRunner;
  readonly hub: StreamHub;
  /** Where MONITOR streams open their own connection. */
  readonly target: RedisTarget;
}

/** The backend of a tenant ('' = the broker's own Redis). */
export type BackendOf = (tenant: string) => Backend;

/** What every stack shares: the process's settings, admission, telemetry and connection budget. */
export interface StackShared {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly admission: Admission;
  readonly budget: ConnectionBudget;
}

/** What differs between the broker's own stack and a tenant's. */
export interface StackSpec {
  readonly target: RedisTarget;
  readonly poolSize: number;
  readonly blockingPoolSize: number;
  /** The setting behind blockingPoolSize, named in the full-pool error. */
  readonly blockingSizeSetting: string;
  /** Whose connections these are in errors: '' or ` of tenant "a"`. */
  readonly owner: string;
  /** Redis Cluster (the broker's own Redis only): commands go through it instead of the main pool. */
  readonly cluster?: Cluster | undefined;
  /** Read regions (the broker's own standalone Redis only, issue 20; docs/read-regions.md). */
  readonly regions?: RegionSpec | undefined;
}

/** How the broker's own stack takes part in read regions. */
export interface RegionSpec {
  /** Set when sync tokens carry positions: write batches learn the primary's offset (a ROLE after each). */
  readonly positions: PrimaryPosition | undefined;
  /** SLUICE_REPLICA_URL's target: reads flagged readonly are served by a pool on it (its places are the caller's). */
  readonly replica: RedisTarget | undefined;
}

/** One Redis's pools, subscriber, script users and the executor over them. */
export interface RedisStack {
  readonly pool: Pool;
  /** The blocking pool of the standalone executor (unused under Cluster: each primary gets its own). */
  readonly blocking: BlockingPool;
  readonly scriptUsers: ScriptUsers;
  readonly requests: RequestRunner;
  readonly hub: SubscriberHub;
  /** Where the subscriber and MONITOR connect (the first seed node under Cluster). */
  readonly streamTarget: RedisTarget;
  /** The read replica's pool and its watcher (SLUICE_REPLICA_URL), else undefined. */
  readonly replicaPool: Pool | undefined;
  readonly watcher: ReplicaWatcher | undefined;
  /** Closes every connection of the stack and gives their places in the budget back. */
  close(): Promise<void>;
}

/** Builds a stack; nothing connects until `pool.start()` (the pool's places in the budget are the caller's to take). */
export function openStack(spec: StackSpec, shared: StackShared): RedisStack {
  const { config, clock, logger, telemetry, admission, budget } = shared;
  const { target, cluster, owner } = spec;
  const positions = cluster ? undefined : spec.regions?.positions;
  const pool = new Pool(
    {
      target,
      size: cluster ? 0 : spec.poolSize,
      connectTimeoutMs: config.redisConnectTimeoutMs,
      name: 'sluice-main',
      stallMs: config.redisStallMs,
      clock,
      onOffset: positions ? (offset) => positions.reported(offset, () => pool.any()) : undefined,
    },
    logger,
    telemetry,
  );
  const replicaPool =
    spec.regions?.replica === undefined || cluster
      ? undefined
      : new Pool(
          {
            target: spec.regions.replica,
            size: spec.poolSize,
            connectTimeoutMs: config.redisConnectTimeoutMs,
            name: 'sluice-replica',
            stallMs: config.redisStallMs,
            clock,
          },
          logger.child({ pool: 'replica' }),
          telemetry,
        );
  // Scripts of tokens with limited rights run as Redis ACL users with those rights (docs/security.md).
  const scriptUsers = new ScriptUsers(
    {
      target,
      connectTimeoutMs: config.redisConnectTimeoutMs,
      stallMs: config.redisStallMs,
      unsupported: target.cluster
        ? 'under Redis Cluster each node keeps its own ACL users, which the broker does not manage'
        : target.sentinel
          ? 'under Sentinel a promoted replica would lack the ACL users made on the old primary'
          : undefined,
      control: () => pool.any(),
      budget,
      owner,
    },
    logger,
    telemetry,
  );
  // Redis may have restarted without its ACL users: scripts make them again.
  pool.onStatus((up) => {
    if (!up) scriptUsers.reset();
  });
  /** A blocking pool on `target`, unblocking its callers through `control`. */
  const blockingPoolOn = (on: RedisTarget, control: () => Redis | undefined) =>
    new BlockingPool(
      {
        target: on,
        size: spec.blockingPoolSize,
        maxMs: config.blockingMaxMs,
        idleMs: config.blockingIdleMs,
        commandTimeoutMs: config.commandTimeoutMs,
        connectTimeoutMs: config.redisConnectTimeoutMs,
        control,
        clock,
        budget,
        sizeSetting: spec.blockingSizeSetting,
        owner,
      },
      telemetry,
    );
  const blocking = blockingPoolOn(target, () => pool.any());
  const executor = cluster
    ? undefined
    : new Executor({ pool, blocking, scriptUsers, admission, telemetry }, { ...config, clock, positions });
  const requests: RequestRunner =
    executor ??
    new ClusterExecutor(cluster!, admission, telemetry, {
      commandTimeoutMs: config.commandTimeoutMs,
      clock,
      // Each primary gets a blocking pool of its own, opened lazily.
      blockingPool: (node, control) => blockingPoolOn(nodeTarget(target, node), control),
    });
  const watcher =
    replicaPool === undefined || positions === undefined
      ? undefined
      : new ReplicaWatcher({
          replica: () => replicaPool.any(),
          primary: () => pool.any(),
          positions,
          clock,
          maxLagMs: config.replicaMaxLagMs,
          polled: () => telemetry.watcherPolled(),
        });
  if (replicaPool && watcher) {
    // A replica that restarted may hold less than before (no persistence, a full resync): forget what it said.
    replicaPool.onStatus((up) => {
      if (!up) watcher.forget();
    });
  }
  const runner: RequestRunner =
    executor === undefined || replicaPool === undefined || watcher === undefined || positions === undefined
      ? requests
      : new RegionRouter({
          primary: executor,
          // Only reads flagged readonly on the main route reach it: its blocking pool and script users stay unused.
          replica: new Executor(
            { pool: replicaPool, blocking, scriptUsers, admission, telemetry },
            { ...config, clock },
          ),
          replicaPool,
          watcher,
          telemetry,
          clock,
          syncWaitMs: config.syncWaitMs,
          maxParked: config.queueMax,
          blind: () => watcher.blind,
          tracking: () => positions.tracking,
        });
  // Classic pub/sub reaches every node of a cluster: the subscriber and MONITOR use the first seed node.
  const streamTarget = cluster ? firstNodeTarget(target) : target;
  const hub = new SubscriberHub(
    {
      target: streamTarget,
      connectTimeoutMs: config.redisConnectTimeoutMs,
      maxNames: config.subscriberMaxChannels,
      clock,
      budget,
      owner,
    },
    logger,
    telemetry,
  );
  return {
    pool,
    blocking,
    scriptUsers,
    requests: runner,
    hub,
    streamTarget,
    replicaPool,
    watcher,
    async close() {
      hub.close();
      await runner.close();
      await blocking.close();
      await scriptUsers.close();
      if (replicaPool) {
        await replicaPool.close();
        budget.give(spec.poolSize);
      }
      await pool.close();
      if (!cluster) budget.give(spec.poolSize);
    },
  };
}
