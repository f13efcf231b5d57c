// Opening one ioredis connection the way every pool needs it: RESP2, raw replies, no offline queue, no silent re-sends.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { type RedisTarget, targetCredentials, targetOptions } from './target.js';

/** What a pool needs to open connections. */
export interface ConnectionOptions {
  /** Where Redis is and how to reach it (address or Sentinels, TLS, ACL user): the same for every connection. */
  readonly target: RedisTarget;
  /** CLIENT SETNAME value, so tests and operators can find the broker's connections in CLIENT LIST. */
  readonly name: string;
  readonly connectTimeoutMs: number;
}

/** Reconnect delay: exponential from 50 ms up to 2 s, with full jitter so a fleet does not reconnect in step. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(2000, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The ioredis options every broker connection shares (standalone, Sentinel, and each cluster node). */
function connectionDefaults(options: Omit<ConnectionOptions, 'target'>): RedisOptions {
  return {
    lazyConnect: true,
    connectionName: options.name,
    connectTimeout: options.connectTimeoutMs,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    stringNumbers: true,
    enableAutoPipelining: false,
    keepAlive: 10_000,
    noDelay: true,
    retryStrategy: reconnectDelayMs,
  };
}

/** Sockets that already carry the listener below. */
const guardedStreams = new WeakSet<object>();

/**
 * ioredis listens for its socket's errors with `once`: a second error on one socket (a TLS alert after a failed
 * handshake, a reset right after an error) found no listener and ended the process. Every socket a connection
 * opens gets a listener of ours for its whole life, added at the connection's first 'connect' or 'error' (ioredis
 * handles the first error itself; the socket is already being destroyed by then).
 */
export function keepStreamErrorsLocal(redis: Redis): void {
  const guard = () => {
    const stream = redis.stream as Redis['stream'] | undefined;
    if (!stream || guardedStreams.has(stream)) return;
    guardedStreams.add(stream);
    stream.on('error', ignoreStreamError);
  };
  redis.on('connect', guard);
  redis.on('error', guard);
}

function ignoreStreamError(): void {}

/**
 * A connection that fails fast while Redis is down (no offline queue), never re-sends a written command after a
 * reconnect (`autoResendUnfulfilledCommands: false`, `maxRetriesPerRequest: 0`), and returns integers as decimal
 * strings so values above 2^53 stay exact.
 */
export function openConnection(options: ConnectionOptions, extra: RedisOptions = {}): Redis {
  const redis = new Redis(options.target.url, {
    ...connectionDefaults(options),
    ...targetOptions(options.target),
    ...extra,
  });
  keepStreamErrorsLocal(redis);
  // ioredis releases the failover detector's Sentinel subscriptions only in disconnect(), not when QUIT or a final
  // close ends the connection; without this they would reconnect to the Sentinels forever.
  if (options.target.sentinel) redis.once('end', () => redis.disconnect());
  return redis;
}

/**
 * A Redis Cluster client over `target.cluster.nodes` (seed nodes; the rest is discovered with CLUSTER SLOTS). Node
 * connections use the same defaults as every other connection. ioredis follows MOVED and ASK and retries TRYAGAIN
 * and CLUSTERDOWN (nothing ran); a command whose connection closed after it was written is never re-sent
 * (`retryDelayOnFailover: 0`).
 */
export function openCluster(options: ConnectionOptions): Cluster {
  const nodes = options.target.cluster?.nodes ?? [];
  const { retryStrategy: _perNode, ...nodeDefaults } = connectionDefaults(options);
  const cluster = new Cluster(
    nodes.map(({ host, port }) => ({ host, port })),
    {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      enableAutoPipelining: false,
      scaleReads: 'master',
      maxRedirections: 16,
      retryDelayOnMoved: 0,
      retryDelayOnTryAgain: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnFailover: 0,
      slotsRefreshTimeout: options.connectTimeoutMs,
      clusterRetryStrategy: (attempt) => reconnectDelayMs(attempt),
      redisOptions: { ...nodeDefaults, ...targetCredentials(options.target) },
    },
  );
  // ioredis reads CLUSTER SLOTS on a duplicate of a node connection, which inherits `stringNumbers`: slot ranges
  // then arrive as strings and its loop compares them as strings ("5461" <= "10922" is false), leaving whole ranges
  // unmapped and their commands sent to random nodes (MOVED, and reordering). That duplicate only reads the map.
  cluster.on('+node', (node: Redis) => {
    keepStreamErrorsLocal(node);
    const duplicate = node.duplicate.bind(node);
    node.duplicate = (override) => duplicate({ ...override, stringNumbers: false });
  });
  return cluster;
}
