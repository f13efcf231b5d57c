// The composition root: builds pool → admission → executor → transports, and tears them down in reverse order.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Admission } from '../exec/admission.js';
import { type Clock, realClock } from '../clock.js';
import { createAdminServer } from './admin.js';
import { Authenticator, DEFAULT_TENANT, type TokenEntry } from '../protocol/auth.js';
import { type Backend, type BackendOf, openStack, type StackShared } from '../exec/backend.js';
import { Backends } from '../exec/tenants.js';
import { ConnectionBudget } from '../redis/connection-budget.js';
import type { Config } from '../config.js';
import type { RequestRunner, RunnerStats } from '../exec/request-runner.js';
import { Responder } from '../entrance/respond.js';
import { RestHandler } from '../http/rest.js';
import { MainServer } from '../http/main-server.js';
import { SseHandler } from '../sse/sse-streams.js';
import type { Logger } from '../log.js';
import { CommandPreparer } from '../protocol/prepare.js';
import type { SubscriberHub } from '../pubsub/hub.js';
import { ScriptAliases } from '../protocol/scripts.js';
import type { BlockingPool } from '../redis/blocking-pool.js';
import type { Cluster } from 'ioredis';
import { Flows } from '../exec/flow.js';
import { buildCommandTable } from '../protocol/command-table.js';
import { assertIoredisCompatible } from '../redis/ioredis-check.js';
import { assertNodeHttpCompatible } from '../http/node-http-check.js';
import { assertWsCompatible } from '../ws/ws-check.js';
import { openCluster } from '../redis/redis-connection.js';
import type { Pool } from '../redis/pool.js';
import { createRedisTarget, type RedisTarget } from '../redis/target.js';
import { loadTokensFile, TokensReloader, topologyProblems } from './tokens-reload.js';
import { randomSyncSecret, SyncTokens } from '../protocol/sync-token.js';
import { PrimaryPosition } from '../redis/primary-position.js';
import type { ReplicaWatcher } from '../exec/replica-watcher.js';
import { parseReplicationInfo } from '../redis/replication.js';
import { NO_TELEMETRY, type RefusalReason, type Telemetry } from '../telemetry.js';
import { createMetrics, type Metrics, type PoolSample } from '../../metrics/index.js';
import { WsServer } from '../ws/ws-server.js';
import { newTicketKeys, readTlsCertificate, tlsFilesOf, TlsReloader } from './tls-certificates.js';
import { Quotas, type WorkerShare } from '../entrance/quotas.js';

/** Everything a broker process needs beyond its Config. */
export interface BrokerDeps {
  readonly config: Config;
  /** The Redis URL actually used (SLUICE_REDIS_URL, the default address, or a private child). */
  readonly redisUrl: string;
  /** How to reach Redis; default: built from `redisUrl` and the TLS/Sentinel options of `config`. */
  readonly redisTarget?: RedisTarget;
  /** Tokens from settings; with SLUICE_TOKENS_FILE the file's entries are read and reloaded here, after these. */
  readonly tokens: readonly TokenEntry[];
  readonly logger: Logger;
  readonly telemetry?: Telemetry;
  /** Whether to serve the admin listener (false in cluster workers: the primary serves it). Default true. */
  readonly admin?: boolean;
  /** Every timeout, sweep and request deadline runs on it; the real clock by default (tests drive a manual one). */
  readonly clock?: Clock;
  /**
   * The keys that encrypt TLS session tickets (48 bytes), when the listener speaks TLS: the primary passes the same
   * to all its workers so a session resumes on any of them. Default: new ones for this process.
   */
  readonly tlsTicketKeys?: Buffer;
  /** This process's part of each quota (worker i of SLUICE_WORKERS); the whole of them by default. */
  readonly workerShare?: WorkerShare;
  /**
   * The key of sync tokens when SLUICE_SYNC_SECRET is unset: the primary process of several workers hands its
   * random one to each, so that they read each other's tokens. Default: SLUICE_SYNC_SECRET, else random.
   */
  readonly syncSecret?: string;
}

/** The parts of a running broker that transports, metrics and tests reach for. */
export interface BrokerParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly pool: Pool;
  /** The read replica's pool (SLUICE_REPLICA_URL), else undefined. */
  readonly replicaPool: Pool | undefined;
  /** What the broker knows of the primary's replication stream (sync tokens, issue 20). */
  readonly positions: PrimaryPosition;
  /** The read replica's watcher (SLUICE_REPLICA_URL), else undefined. */
  readonly watcher: ReplicaWatcher | undefined;
  /** The blocking pool of the standalone executor (unused under Cluster, where each primary gets its own). */
  readonly blockingPool: BlockingPool;
  readonly admission: Admission;
  /** What transports run requests on: the Executor, or the cluster executor when SLUICE_REDIS_CLUSTER_NODES is set. */
  readonly requests: RequestRunner;
  /** The Redis Cluster client (cluster mode only; the main pool is then empty). */
  readonly cluster: Cluster | undefined;
  readonly preparer: CommandPreparer;
  readonly auth: Authenticator;
  /** Per-token (or tenant) quotas of this process. */
  readonly quotas: Quotas;
  readonly responder: Responder;
  readonly server: MainServer;
  /** The /ws endpoint. */
  readonly ws: WsServer;
  readonly telemetry: Telemetry;
  readonly redisUrl: string;
  /** How every connection reaches Redis (address or Sentinels, TLS, ACL user). */
  readonly redisTarget: RedisTarget;
  /** The shared pub/sub subscriber (SSE and WebSocket subscriptions). */
  readonly pubsub: SubscriberHub;
  /** The SSE routes (subscribe, psubscribe, monitor). */
  readonly sse: SseHandler;
  /** The tenants of the tokens file and their backends (opened lazily). */
  readonly tenants: Backends;
  /** Redis connections held by the process, within SLUICE_MAX_REDIS_CONNECTIONS. */
  readonly budget: ConnectionBudget;
  /** The metrics registry (undefined when SLUICE_METRICS_ENABLED is false); modules plug their gauges in here. */
  readonly metrics: Metrics | undefined;
  /** The listener's certificate and its reloads (undefined without SLUICE_TLS_CERT_FILE). */
  readonly tls: TlsReloader | undefined;
}

/** A running broker. */
export interface Broker extends BrokerParts {
  /** `http://host:port` of the main listener (`https://` with SLUICE_TLS_CERT_FILE). */
  readonly url: string;
  /** `http://host:port` of the admin listener. */
  readonly adminUrl: string;
  /** Registers work to do when draining (close WebSockets with 1001, end SSE streams…). */
  onDrain(hook: () => Promise<void> | void): void;
  /** Stops accepting, lets in-flight work finish within `drainTimeoutMs`, then closes everything. */
  close(): Promise<void>;
  /** Why the broker is not ready, or undefined. */
  notReadyReason(): string | undefined;
  /** Reads its files again (the TLS files, the tokens file; whatever registered with onReload): SIGHUP calls it. */
  reload(): void;
  /** Registers work to do on reload() (SIGHUP). */
  onReload(hook: () => void): void;
}

async function listen(server: Server, port: number, host: string, scheme = 'http'): Promise<string> {
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${shownHost}:${address.port}`;
}

/** Refusals decided while preparing a command (rights, classification), counted once for every transport. */
const PREPARE_REFUSALS: Partial<Record<string, RefusalReason>> = {
  SLUICE_ERR_AUTH_NOPERM: 'noperm',
  SLUICE_ERR_AUTH_SCRIPT_REFUSED: 'noperm',
  SLUICE_ERR_COMMAND_REFUSED: 'command_refused',
  SLUICE_ERR_REDIS_UNAVAILABLE: 'redis_unavailable',
};

/** A runner's main pool as the pool metrics read it. */
function mainSample({ main: { size, ready, inflight } }: RunnerStats): PoolSample {
  return { max: size, connections: { ready, down: size - ready }, inflight };
}

/** A runner's blocking connections as the pool metrics read them. */
function blockingSample({ blocking: { size, busy, open } }: RunnerStats): PoolSample {
  return { max: size, connections: { busy, idle: open - busy }, inflight: busy };
}

/** Builds and starts a broker; resolves once both listeners listen. Redis may still be down (it reconnects). */
export async function startBroker(deps: BrokerDeps): Promise<Broker> {
  const { config, logger } = deps;
  const tlsFiles = tlsFilesOf(config);
  assertIoredisCompatible();
  assertNodeHttpCompatible(undefined, tlsFiles !== undefined);
  await assertWsCompatible();
  // Read first: a missing or bad certificate stops the start with the setting and file at fault.
  const ticketKeys = tlsFiles ? (deps.tlsTicketKeys ?? newTicketKeys()) : undefined;
  const certificate = tlsFiles && ticketKeys ? readTlsCertificate(tlsFiles, ticketKeys) : undefined;
  const clock = deps.clock ?? realClock;
  const metrics = config.metricsEnabled ? createMetrics({ maxRunning: config.maxInflight }) : undefined;
  const telemetry = deps.telemetry ?? metrics?.telemetry ?? NO_TELEMETRY;
  const redisTarget = deps.redisTarget ?? createRedisTarget(deps.redisUrl, config);
  // The tokens file is checked before anything connects: a broken one stops the start.
  const fileTokens = config.tokensFile ? loadTokensFile(config.tokensFile, config) : { entries: [] };
  if ('problems' in fileTokens)
    throw new Error(
      `${fileTokens.problems.length} problem(s) in ${config.tokensFile}: ${fileTokens.problems.join('; ')}`,
    );
  const startEntries = fileTokens.entries;
  // Cluster mode swaps the main pool for ioredis's Cluster and its own executor, chosen here once; the standalone
  // path below is unchanged. Pub/sub and MONITOR use the first seed node (classic pub/sub reaches every node).
  const cluster = redisTarget.cluster
    ? openCluster({
        target: redisTarget,
        name: 'sluice-main',
        connectTimeoutMs: config.redisConnectTimeoutMs,
      })
    : undefined;
  const admission = new Admission({ ...config, clock });
  const budget = new ConnectionBudget(config.maxRedisConnections);
  const shared: StackShared = { config, clock, logger, telemetry, admission, budget };
  // The broker's own Redis: its main pool opens now (config checks it fits in SLUICE_MAX_REDIS_CONNECTIONS).
  if (!cluster) budget.take('the main pool (SLUICE_POOL_SIZE)', config.poolSize);
  // Read regions (issue 20): tokens carry the primary's position when a replica serves reads here, or when a shared
  // secret says other brokers of the deployment may read them. Not under Cluster (config refuses the replica there).
  const replicaUrl = cluster ? undefined : config.replicaUrl;
  const positionsOn = !cluster && (replicaUrl !== undefined || config.syncSecret !== undefined);
  const positions = new PrimaryPosition(clock, Math.max(25, config.replicaMaxLagMs / 32));
  if (replicaUrl !== undefined) budget.take('the replica pool (SLUICE_POOL_SIZE)', config.poolSize);
  const own = openStack(
    {
      target: redisTarget,
      poolSize: config.poolSize,
      blockingPoolSize: config.blockingPoolSize,
      blockingSizeSetting: 'SLUICE_BLOCKING_POOL_SIZE',
      owner: '',
      cluster,
      regions: {
        positions: positionsOn ? positions : undefined,
        replica: replicaUrl === undefined ? undefined : createRedisTarget(replicaUrl, config),
      },
    },
    shared,
  );
  const { pool, blocking: blockingPool, scriptUsers, requests, hub: pubsub, replicaPool, watcher } = own;
  const ownBackend: Backend = { tenant: DEFAULT_TENANT, requests, hub: pubsub, target: own.streamTarget };
  // Each tenant of the tokens file: a stack of its own, opened on its first request (exec/tenant-backend.ts).
  const tenants = new Backends(ownBackend, shared);
  const backends: BackendOf = (tenant) => tenants.of(tenant);
  const preparer = new CommandPreparer({
    scripts: new ScriptAliases(),
    scriptGate: (runAs) => scriptUsers.refusal(runAs),
    onRefused: (error) => {
      const reason = PREPARE_REFUSALS[error.code];
      if (reason) telemetry.refused(reason);
    },
  });
  const auth = new Authenticator([...deps.tokens, ...startEntries]);
  tenants.update(Authenticator.tenantsOf(startEntries));
  const quotas = new Quotas({
    quotas: auth.quotas,
    defaults: {
      requestsPerSecond: config.tokenRequestsPerSecond,
      burst: config.tokenBurst,
      commandsPerSecond: config.tokenCommandsPerSecond,
      inflight: config.tokenMaxInflight,
      sockets: config.tokenMaxSockets,
    },
    share: deps.workerShare,
    clock,
    // The tenant label as the pool metrics give it: `default` for the tokens on the broker's own Redis.
    refused: (kind, principal) => telemetry.quotaRefused(kind, principal.tenant || 'default'),
  });
  const tokens = new SyncTokens({
    secret: deps.syncSecret ?? config.syncSecret ?? randomSyncSecret(),
    positions: positionsOn,
    perTokenFloor: config.syncPerTokenFloor,
  });
  const responder = new Responder(tokens, telemetry);
  const rest = new RestHandler(
    {
      preparer,
      backends,
      responder,
      tokens,
      maxBodyBytes: config.maxBodyBytes,
      maxPipelineCommands: config.maxPipelineCommands,
      quotas,
    },
    logger,
  );
  const sse = new SseHandler({
    backends,
    budget,
    responder,
    telemetry,
    logger,
    connectTimeoutMs: config.redisConnectTimeoutMs,
    bufferBytes: config.subscriberBufferBytes,
    keepaliveMs: config.sseKeepaliveMs,
    clock,
  });
  // One count of reply bytes per token, shared by its HTTP connections and WebSockets.
  const flows = new Flows(
    {
      clientMaxPendingBytes: config.clientMaxPendingBytes,
      tokenMaxPendingBytes: config.tokenMaxPendingBytes,
    },
    () => telemetry.refused('reply_bytes_throttled'),
  );
  const ws = new WsServer(
    {
      preparer,
      backends,
      logger,
      telemetry,
      flows,
      quotas,
      tokens,
      syncToken: () => responder.syncToken(),
    },
    {
      maxFrameBytes: config.wsMaxFrameBytes,
      maxInflight: config.wsMaxInflight,
      maxSockets: config.wsMaxSockets,
      sendBufferBytes: config.wsSendBufferBytes,
      heartbeatMs: config.wsHeartbeatMs,
      maxPipelineCommands: config.maxPipelineCommands,
      compression: config.wsCompression,
      clock,
    },
  );
  const server = new MainServer(
    { auth, rest, responder, streams: sse, upgrades: ws, flows, quotas },
    {
      headersTimeoutMs: config.httpHeadersTimeoutMs,
      requestTimeoutMs: config.httpRequestTimeoutMs,
      keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
      maxConnections: config.httpMaxConnections,
      maxBodyBytes: config.maxBodyBytes,
      basePath: config.basePath,
      clock,
      tls: certificate && {
        context: certificate.context,
        requireClientCertificate: config.tlsClientCaFile !== undefined,
        logger,
      },
    },
  );
  const tls =
    tlsFiles && ticketKeys && certificate
      ? new TlsReloader({
          files: tlsFiles,
          ticketKeys,
          initial: certificate,
          apply: (context) => server.setSecureContext(context),
          logger,
        })
      : undefined;

  // Routing needs Redis's own command list; read it whenever Redis (re)appears until it has been read once.
  const loadCommands = async () => {
    if (preparer.ready) return;
    const redis = cluster ? (cluster.status === 'ready' ? cluster : undefined) : pool.any();
    if (!redis) return;
    try {
      preparer.setTable(buildCommandTable(await redis.call('COMMAND')));
      logger.info({ event: 'commands_loaded' }, 'read the command list from Redis');
    } catch (error) {
      logger.warn(
        { event: 'commands_failed', err: error },
        'could not read the command list from Redis; will retry when it reconnects',
      );
    }
  };
  // Commands are classified once, from the broker's own Redis, for every tenant too (they are expected to run the
  // same Redis version; a command a tenant's Redis lacks gets Redis's own error).
  /**
   * Whether the Redis user may run ROLE and INFO on the primary: without them tokens carry no position (and reads
   * with a token go to the primary). Asked once Redis is reached.
   */
  let positionsProbed = false;
  const probePositions = async () => {
    if (!positionsOn || positionsProbed) return;
    const redis = pool.any();
    if (!redis) return;
    positionsProbed = true;
    const denied = await redis.call('ROLE').then(
      () => undefined,
      (error: Error) => error.message,
    );
    const info = denied === undefined ? await positions.refresh(redis) : undefined;
    if (denied !== undefined || info === undefined) {
      positions.tracking = false;
      logger.warn(
        {
          event: 'sync_positions_unavailable',
          reason: denied ?? 'INFO replication failed or the server is not a primary',
        },
        'the Redis user may not run ROLE and INFO replication on the primary: sync tokens carry no position, and reads with a token are served by the primary',
      );
    }
  };
  pool.onStatus((up) => {
    if (up) void loadCommands();
    // The replication ID is read again after a reconnection (Redis may have restarted with another history).
    if (up && positionsOn) void probePositions().then(() => positions.refresh(pool.any()));
  });
  cluster?.on('ready', () => void loadCommands());
  // A cluster that cannot be reached yet keeps retrying by itself (clusterRetryStrategy).
  await (cluster ? cluster.connect().catch(() => {}) : pool.start());
  await loadCommands();
  await probePositions();
  if (replicaPool) {
    await replicaPool.start();
    const replicaInfo = await replicaPool
      .any()
      ?.call('INFO', 'replication')
      .then(parseReplicationInfo, (error: Error) => error);
    if (replicaInfo instanceof Error) {
      watcher?.failed(replicaInfo);
      logger.warn(
        { event: 'replica_state_unavailable', reason: replicaInfo.message },
        'the Redis user may not run INFO replication on the replica: reads with a sync token are served by the primary, reads without one by the replica, its lag unmeasured',
      );
    } else if (replicaInfo?.role === 'master')
      logger.warn(
        { event: 'replica_not_replica' },
        'SLUICE_REPLICA_URL answers as a primary, not a replica: reads with a sync token of this deployment go to SLUICE_REDIS_URL until it follows it',
      );
    else if (replicaInfo === undefined)
      logger.warn(
        { event: 'replica_unreachable' },
        'the replica (SLUICE_REPLICA_URL) is unreachable: reads go to the primary until it is up',
      );
  }

  let draining = false;
  // WebSockets answer what they have in flight, then close with 1001. Streams never finish by themselves: end them,
  // then release the shared subscriber.
  const drainHooks: (() => Promise<void> | void)[] = [
    () => ws.drain(),
    () => sse.close(),
    () => pubsub.close(),
  ];
  const notReadyReason = () => {
    if (draining) return 'draining';
    if (cluster ? cluster.status !== 'ready' : pool.stats().ready === 0) return 'Redis is unreachable';
    if (!preparer.ready) return 'the command list has not been read from Redis yet';
    return undefined;
  };
  metrics?.plug({
    pools: {
      main: () => mainSample(requests.stats()),
      blocking: () => blockingSample(requests.stats()),
      ...(replicaPool
        ? {
            replica: () => {
              const { size, ready, inflight } = replicaPool.stats();
              return { max: size, connections: { ready, down: size - ready }, inflight };
            },
          }
        : {}),
    },
    ...(watcher ? { replica: () => watcher.stats() } : {}),
    // Tenants with no connection open report zeros: the label values are the tokens file's tenants, nothing else.
    tenantPools: () =>
      tenants.stats().flatMap((stats) => [
        { tenant: stats.tenant, pool: 'main', sample: mainSample(stats) },
        { tenant: stats.tenant, pool: 'blocking', sample: blockingSample(stats) },
      ]),
    redisConnections: () => ({ held: budget.held, max: budget.max }),
    admission,
    pubsub: () => pubsub.stats(),
    sse: () => ({ streams: sse.stats().streams + sse.stats().monitors }),
    ws: () => ws.stats(),
    clusterNodes: () => requests.nodeStats(),
    ...(tls && server.tls
      ? {
          tls: () => {
            const entry = server.tls!.counts;
            return {
              ...entry,
              reloadsApplied: tls.counts.applied,
              reloadsRejected: tls.counts.rejected,
              certificateExpirySeconds: Math.floor(tls.current.notAfter.getTime() / 1000),
            };
          },
        }
      : {}),
  });
  const admin =
    deps.admin === false
      ? undefined
      : createAdminServer({ notReadyReason, ...(metrics ? { metrics: () => metrics.scrape() } : {}) });
  const reloadHooks: (() => void)[] = [];
  const tokensReloader = config.tokensFile
    ? new TokensReloader(
        {
          file: config.tokensFile,
          fixed: deps.tokens,
          initial: startEntries,
          check: (entries) => topologyProblems(entries, config),
          apply: (entries) => {
            const change = auth.replace(entries);
            // Sockets of removed tokens close with their reason before their tenant's connections go.
            ws.revoke(change);
            sse.revoke(change);
            tenants.update(Authenticator.tenantsOf(entries));
            // A changed quota applies at once; counts of tokens still present carry over.
            quotas.update(auth.quotas);
          },
        },
        logger,
        telemetry,
      )
    : undefined;
  tokensReloader?.watch();
  if (tokensReloader) reloadHooks.push(() => void tokensReloader.reload('signal'));
  const url = await listen(server.server, config.port, config.host, tls ? 'https' : 'http');
  const adminUrl = admin ? await listen(admin, config.adminPort, config.adminHost) : '';
  logger.info({ event: 'listening', url, adminUrl }, 'listening');
  if (tls) {
    tls.watch();
    const { subject, serial, notAfter } = tls.current;
    logger.info(
      {
        event: 'tls_certificate',
        subject,
        serial,
        notAfter: notAfter.toISOString(),
        mtls: config.tlsClientCaFile !== undefined,
      },
      'serving HTTPS and WSS',
    );
  }

  const parts: BrokerParts = {
    config,
    logger,
    pool,
    replicaPool,
    positions,
    watcher,
    blockingPool,
    admission,
    requests,
    cluster,
    preparer,
    auth,
    quotas,
    responder,
    server,
    ws,
    telemetry,
    redisUrl: deps.redisUrl,
    redisTarget,
    pubsub,
    sse,
    tenants,
    budget,
    metrics,
    tls,
  };
  return {
    ...parts,
    url,
    adminUrl,
    notReadyReason,
    onDrain: (hook) => drainHooks.push(hook),
    onReload: (hook) => reloadHooks.push(hook),
    reload() {
      tls?.reload('signal');
      for (const hook of reloadHooks) hook();
    },
    async close() {
      if (draining) return;
      draining = true;
      tls?.close();
      tokensReloader?.close();
      logger.info({ event: 'draining', timeoutMs: config.drainTimeoutMs }, 'draining');
      server.drain();
      // Blocked callers get Redis's timeout reply (nil) now rather than a cut connection at the drain deadline.
      requests.unblockAll();
      tenants.unblockAll();
      const deadline = new Promise<void>((resolve) =>
        clock.setTimeout(resolve, config.drainTimeoutMs).unref(),
      );
      await Promise.race([
        Promise.allSettled(drainHooks.map((hook) => hook())).then(() =>
          Promise.all([admission.onIdle(), requests.idle()]),
        ),
        deadline,
      ]);
      server.closeAllConnections();
      ws.close();
      await tenants.close();
      await own.close();
      await cluster?.quit().catch(() => cluster.disconnect());
      admin?.close();
      admin?.closeAllConnections();
      logger.info({ event: 'closed' }, 'closed');
    },
  };
}
