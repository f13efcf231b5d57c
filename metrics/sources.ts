// What the gauges read at scrape time: snapshots of pools, admission, transports and pub/sub, plugged in as they exist.

/** One pool at one instant. */
export interface PoolSample {
  /** The pool's bound (connections it may open). */
  readonly max: number;
  /** Connections by state, e.g. `{ ready: 3, down: 1 }` (main) or `{ idle: 1, busy: 2, down: 0 }` (blocking). */
  readonly connections: Readonly<Record<string, number>>;
  /** Commands written and not yet answered. */
  readonly inflight: number;
}

/** One pool of one tenant. */
export interface TenantPoolSample {
  readonly tenant: string;
  readonly pool: string;
  readonly sample: PoolSample;
}

/** The admission queue; `Admission` satisfies it as is. */
export interface AdmissionSample {
  readonly waiting: number;
  readonly running: number;
  oldestWaitSeconds(): number;
}

/** WebSocket transport totals; frame counts are cumulative since start. */
export interface WsSample {
  readonly sockets: number;
  readonly framesIn: number;
  readonly framesOut: number;
}

/** SSE transport. */
export interface SseSample {
  readonly streams: number;
}

/** The shared subscriber; message counts are cumulative since start. */
export interface PubSubSample {
  readonly channels: number;
  readonly patterns: number;
  readonly listeners: number;
  readonly messages: number;
  readonly dropped: number;
}

/** The TLS listener (SLUICE_TLS_CERT_FILE); counts are cumulative since start. */
export interface TlsSample {
  readonly fullHandshakes: number;
  readonly resumedHandshakes: number;
  readonly handshakeFailures: number;
  readonly plainHttp: number;
  readonly reloadsApplied: number;
  readonly reloadsRejected: number;
  /** When the certificate in use expires, in seconds since the epoch. */
  readonly certificateExpirySeconds: number;
}

/** The read replica's watcher (read regions). */
export interface ReplicaSample {
  readonly parked: number;
  /** Undefined before the first poll (then the gauge has no sample). */
  readonly lagBytes: number | undefined;
  readonly lagSeconds: number | undefined;
}

/** Everything the scrape reads. Each is optional: a missing source reports zero, so modules plug in when they exist. */
export interface MetricsSources {
  /** Pools of the broker's own Redis by name (`main`, `blocking`), labelled `tenant="default"`. */
  readonly pools?: Readonly<Record<string, () => PoolSample>>;
  /** Pools of the tenants of the tokens file (a bounded set of names). */
  readonly tenantPools?: () => readonly TenantPoolSample[];
  /** Redis connections the process holds, and SLUICE_MAX_REDIS_CONNECTIONS. */
  readonly redisConnections?: () => { readonly held: number; readonly max: number };
  /** Whether Redis is reachable; defaults to "the main pool has a ready connection". */
  readonly redisUp?: () => boolean;
  readonly admission?: AdmissionSample;
  readonly ws?: () => WsSample;
  readonly sse?: () => SseSample;
  readonly pubsub?: () => PubSubSample;
  /** The main listener's TLS, when it speaks TLS. */
  readonly tls?: () => TlsSample;
  /** Redis Cluster mode: connections per primary node, by pool and state. */
  readonly clusterNodes?: () => readonly ClusterNodeSample[];
  /** Read regions (SLUICE_REPLICA_URL): the replica watcher. */
  readonly replica?: () => ReplicaSample;
}

/** One (node, pool, state) count in Redis Cluster mode; `node` is the primary's host:port. */
export interface ClusterNodeSample {
  readonly node: string;
  readonly pool: string;
  readonly state: string;
  readonly count: number;
}

/** The sources of one registry; `plug` adds or replaces some of them (pools merge by name). */
export class SourceSet {
  #sources: MetricsSources = {};

  get current(): MetricsSources {
    return this.#sources;
  }

  plug(sources: MetricsSources): void {
    const pools = { ...this.#sources.pools, ...sources.pools };
    this.#sources = { ...this.#sources, ...sources, pools };
  }
}
