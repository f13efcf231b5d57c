// The one list of Sluice's metric families: each metric file builds its family from here; docs/metrics.md renders it.

/** Prometheus metric types Sluice uses. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** How the primary combines one family over workers (SLUICE_WORKERS > 1); prom-client's aggregators. */
export type MetricAggregator = 'sum' | 'max' | 'min';

/** One metric family: what it is and what it means when it rises. */
export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  /** Label names; every label takes a bounded set of values. */
  readonly labels: readonly string[];
  /** The Prometheus HELP text: what is measured, in which unit. */
  readonly help: string;
  /** What it means for an operator when the value rises. */
  readonly rises: string;
  /** How workers are combined; default `sum`. */
  readonly aggregator?: MetricAggregator;
}

/** Every family Sluice registers, besides prom-client's default process metrics (`sluice_process_*`, `sluice_nodejs_*`). */
export const METRICS = [
  {
    name: 'sluice_pool_connections',
    type: 'gauge',
    labels: ['pool', 'state', 'tenant'],
    help: "Redis connections of each pool by state (main: ready, down; blocking: idle, busy, down) and tenant (`default`: the broker's own Redis; else a tenant of the tokens file).",
    rises:
      'state=busy close to sluice_pool_max_connections: that pool is saturated; state=down: Redis is unreachable from this pool.',
  },
  {
    name: 'sluice_pool_max_connections',
    type: 'gauge',
    labels: ['pool', 'tenant'],
    help: 'The bound of each pool (SLUICE_POOL_SIZE, SLUICE_BLOCKING_POOL_SIZE; a tenant: SLUICE_TENANT_POOL_SIZE, SLUICE_TENANT_BLOCKING_POOL_SIZE while its connections are open, else 0).',
    rises: 'Changes only with configuration; the denominator of pool saturation.',
  },
  {
    name: 'sluice_inflight_commands',
    type: 'gauge',
    labels: ['pool', 'tenant'],
    help: 'Commands written to Redis and not yet answered.',
    rises:
      'Redis answers more slowly than commands arrive (slow commands, big values, a busy Redis); with a growing queue the pool is the bottleneck.',
  },
  {
    name: 'sluice_redis_connections',
    type: 'gauge',
    labels: ['kind'],
    help: 'Redis connections the process holds (kind=held: every pool, tenant, subscriber, script user and MONITOR) and its bound (kind=max: SLUICE_MAX_REDIS_CONNECTIONS).',
    rises:
      'held close to max: new tenants, blocking commands, subscribers or MONITOR streams are refused with SLUICE_ERR_REDIS_CONNECTIONS_LIMIT.',
  },
  {
    name: 'sluice_requests_running',
    type: 'gauge',
    labels: [],
    help: 'Requests holding an admission slot, at most sluice_requests_running_max (SLUICE_MAX_INFLIGHT).',
    rises: 'More concurrent work; at the maximum, new requests wait in the queue.',
  },
  {
    name: 'sluice_requests_running_max',
    type: 'gauge',
    labels: [],
    help: 'Admission slots (SLUICE_MAX_INFLIGHT).',
    rises: 'Changes only with configuration.',
  },
  {
    name: 'sluice_queue_length',
    type: 'gauge',
    labels: [],
    help: 'Requests waiting for an admission slot (at most SLUICE_QUEUE_MAX).',
    rises:
      'Demand exceeds what the pool serves: the pool or Redis is the bottleneck; at SLUICE_QUEUE_MAX requests are refused (queue_full).',
  },
  {
    name: 'sluice_queue_oldest_wait_seconds',
    type: 'gauge',
    labels: [],
    help: 'How long the oldest waiting request has waited (PgBouncer maxwait).',
    rises: 'The saturation signal: at SLUICE_QUEUE_TIMEOUT_MS waiting requests are refused (queue_timeout).',
    aggregator: 'max',
  },
  {
    name: 'sluice_queue_wait_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time requests that had to queue waited for an admission slot.',
    rises:
      'Requests spend their time waiting for the broker rather than Redis: raise SLUICE_MAX_INFLIGHT or the pool size, or add instances.',
  },
  {
    name: 'sluice_batch_commands',
    type: 'histogram',
    labels: [],
    help: 'Commands per pipelined write to a main-pool connection (with the ROLE that follows a batch with writes when sync tokens carry positions); sum/count is the mean batch size.',
    rises:
      'Concurrent commands share writes (batching at work, good); a mean near 1 under load means little batching.',
  },
  {
    name: 'sluice_command_duration_seconds',
    type: 'histogram',
    labels: ['command'],
    help: 'Time from writing a command to its reply, by command (names from Redis COMMAND, else other).',
    rises: 'Redis is slow for that command (big keys, long scripts) or the connection is congested.',
  },
  {
    name: 'sluice_commands_total',
    type: 'counter',
    labels: ['command', 'outcome'],
    help: 'Commands that settled, by command and outcome (ok, redis_error, timeout, connection_lost, unavailable, refused).',
    rises: 'outcome=ok: that command is used more; any other outcome: errors of that kind, by command.',
  },
  {
    name: 'sluice_http_requests_total',
    type: 'counter',
    labels: ['route', 'status'],
    help: 'HTTP responses by route (single, pipeline, multi-exec, path, subscribe, psubscribe, monitor, ws) and status code.',
    rises: 'Traffic; 4xx: callers send bad requests or tokens; 503/504: overload or Redis trouble.',
  },
  {
    name: 'sluice_refusals_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Requests or commands refused before reaching Redis, by reason (the limit or rule hit).',
    rises:
      'queue_full/queue_timeout: the pool is the bottleneck; redis_unavailable: Redis is down; noperm/auth: a caller lacks rights; command_refused: a command needs another route; blocking_pool_full, ws_limit, too_large, reply_too_large: that limit was hit; reply_bytes_throttled: a client pulling large replies was paused (slowed, not refused) over SLUICE_CLIENT_MAX_PENDING_BYTES or SLUICE_TOKEN_MAX_PENDING_BYTES; quota: a caller over its quota (by kind in sluice_quota_refusals_total).',
  },
  {
    name: 'sluice_quota_refusals_total',
    type: 'counter',
    labels: ['kind', 'tenant'],
    help: "Requests, sockets and streams refused over a token's or tenant's quota, by kind (requests, commands, inflight, sockets) and tenant (its name from the tokens file; `default` for tokens without one, each with a quota of its own).",
    rises:
      'A caller sends more than its quota allows (docs/quotas.md): expected for a noisy app, a sign to raise the quota when it is a steady one.',
  },
  {
    name: 'sluice_redis_up',
    type: 'gauge',
    labels: [],
    help: '1 when at least one main-pool connection to Redis is ready, else 0.',
    rises: 'Drops to 0 when Redis is unreachable: requests fail fast with 503 until it returns.',
    aggregator: 'min',
  },
  {
    name: 'sluice_redis_reconnects_total',
    type: 'counter',
    labels: ['pool'],
    help: 'Reconnection attempts of Redis connections, by pool.',
    rises: 'Redis restarts, network trouble, or connections killed (CLIENT KILL, timeouts).',
  },
  {
    name: 'sluice_tokens_reloads_total',
    type: 'counter',
    labels: ['outcome'],
    help: 'Reloads of SLUICE_TOKENS_FILE (on change or SIGHUP) by outcome: applied, unchanged, failed (the file was refused and the last good one kept; the log says why).',
    rises:
      'outcome=failed: the tokens file on disk is broken and the broker still serves the previous one; fix the file.',
  },
  {
    name: 'sluice_process_guard_total',
    type: 'counter',
    labels: ['kind'],
    help: 'Errors that reached the process-level guard instead of a handler of their own (kind: uncaught_exception, unhandled_rejection); an uncaught socket error is logged and the process goes on. kind=output_lost: stdout or stderr failed (its reader went away, EPIPE), counted once per stream; later log lines are dropped.',
    rises:
      'uncaught_exception or unhandled_rejection: a bug in Sluice, whatever the value; report it with the log line of the same time (event uncaught_socket_error, uncaught_exception or unhandled_rejection). output_lost: whatever read the log (a supervisor, a log shipper) is gone; this process logs nothing more: restart it under a live reader.',
  },
  {
    name: 'sluice_tls_handshakes_total',
    type: 'counter',
    labels: ['session'],
    help: 'TLS handshakes completed on the main listener (SLUICE_TLS_CERT_FILE set): session=new (full handshake) or resumed (from a session ticket).',
    rises:
      'New client connections; a low resumed share with clients that reconnect often means their tickets are not kept (or expire, after 300 s): each new session costs a full handshake.',
  },
  {
    name: 'sluice_tls_client_errors_total',
    type: 'counter',
    labels: ['kind'],
    help: 'Connections to the TLS listener that never got a session: kind=handshake (the handshake failed: no common version or cipher, a missing or refused client certificate, a timeout, a reset) or plain_http (answered 400 SLUICE_ERR_HTTP_NOT_TLS). Logged at debug.',
    rises:
      'handshake: clients that do not trust the certificate, lack a client certificate (mTLS) or only speak TLS 1.0/1.1, or scanners; plain_http: a client configured with http:// instead of https://.',
  },
  {
    name: 'sluice_tls_reloads_total',
    type: 'counter',
    labels: ['outcome'],
    help: 'Reloads of the TLS files that changed (file watch or SIGHUP): outcome=applied, or rejected (unreadable, not PEM, key not matching; the previous certificate stays and the log says why).',
    rises:
      'rejected: the new files are wrong (see the log event tls_reload_rejected); fix them before the old certificate expires.',
  },
  {
    name: 'sluice_tls_certificate_expiry_seconds',
    type: 'gauge',
    labels: [],
    help: "Unix time (seconds) at which the main listener's certificate in use expires; 0 without TLS.",
    rises: 'Rises at each renewal; alert when it comes within days of time().',
    aggregator: 'min',
  },
  {
    name: 'sluice_cluster_node_connections',
    type: 'gauge',
    labels: ['node', 'pool', 'state'],
    help: 'Redis Cluster mode only: connections to each primary (node is host:port) by pool and state (main: ready, down; blocking: idle, busy).',
    rises:
      "state=down for a node: that primary is unreachable and its slots fail with 503; state=busy near SLUICE_BLOCKING_POOL_SIZE: that node's blocking pool is saturated.",
  },
  {
    name: 'sluice_ws_sockets',
    type: 'gauge',
    labels: [],
    help: 'Open WebSocket connections (at most SLUICE_WS_MAX_SOCKETS per process).',
    rises: 'More connected functions; near the limit new sockets are refused (ws_limit).',
  },
  {
    name: 'sluice_ws_frames_total',
    type: 'counter',
    labels: ['direction'],
    help: 'WebSocket frames received (in) and sent (out).',
    rises: 'WebSocket traffic.',
  },
  {
    name: 'sluice_sse_streams',
    type: 'gauge',
    labels: [],
    help: 'Open server-sent-event streams (subscribe, psubscribe, monitor).',
    rises: 'More SSE listeners.',
  },
  {
    name: 'sluice_pubsub_channels',
    type: 'gauge',
    labels: ['kind'],
    help: 'Channels (kind=channel) and patterns (kind=pattern) the shared subscriber holds in Redis.',
    rises: 'Listeners spread over more channels.',
  },
  {
    name: 'sluice_pubsub_listeners',
    type: 'gauge',
    labels: [],
    help: 'Listeners (SSE streams and WebSocket sockets) attached to the pub/sub hub.',
    rises: 'More subscribers; each message is fanned out to every listener of its channel.',
  },
  {
    name: 'sluice_pubsub_messages_total',
    type: 'counter',
    labels: [],
    help: 'Messages the shared subscriber received from Redis.',
    rises: 'More publishing on subscribed channels.',
  },
  {
    name: 'sluice_pubsub_dropped_messages_total',
    type: 'counter',
    labels: [],
    help: 'Messages not delivered because a listener fell behind (its buffer overflowed and it was cut off).',
    rises: 'Slow readers: listeners cannot keep up (SLUICE_SUBSCRIBER_BUFFER_BYTES).',
  },
  {
    name: 'sluice_replica_reads_total',
    type: 'counter',
    labels: ['outcome'],
    help: 'Read regions (SLUICE_REPLICA_URL): reads a replica could serve, by how they were served: immediate (replica at once), waited (replica, after waiting for its sync position), primary_fallback (primary: the wait ran out, the replica is down or lags past SLUICE_REPLICA_MAX_LAG_MS), unsatisfiable (primary: the position is of another history or past the primary). bad_token counts reads whose sync token did not verify, in addition.',
    rises:
      'waited: callers read their own writes before the replica applied them (normal; see the wait histogram); primary_fallback: the replica lags or is down, so reads cross to the primary; unsatisfiable: a failover changed the history, or tokens come from another deployment; bad_token: tokens signed with another SLUICE_SYNC_SECRET, or forged.',
  },
  {
    name: 'sluice_sync_wait_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time reads with a sync position waited for the replica to reach it (at most SLUICE_SYNC_WAIT_MS), whatever came of it.',
    rises: 'The replica applies writes later: replication lag, or a slow link to the primary.',
  },
  {
    name: 'sluice_replica_lag_bytes',
    type: 'gauge',
    labels: [],
    help: "Bytes of the primary's replication stream the replica had not applied, at the watcher's last poll (read regions).",
    rises:
      'The replica falls behind: writes come faster than the link to the primary carries them, or the link is down.',
    aggregator: 'max',
  },
  {
    name: 'sluice_replica_lag_seconds',
    type: 'gauge',
    labels: [],
    help: "Estimated seconds the replica is behind the primary: since the primary first reported an offset the replica had not applied, at the watcher's last poll (read regions).",
    rises:
      'As sluice_replica_lag_bytes; past SLUICE_REPLICA_MAX_LAG_MS reads without a token go to the primary.',
    aggregator: 'max',
  },
  {
    name: 'sluice_sync_parked_reads',
    type: 'gauge',
    labels: [],
    help: 'Reads waiting for the replica to reach their sync position (read regions).',
    rises: 'More reads of fresh writes while the replica lags; each waits at most SLUICE_SYNC_WAIT_MS.',
  },
  {
    name: 'sluice_replica_watcher_polls_total',
    type: 'counter',
    labels: [],
    help: "Polls of the replica's replication state (INFO replication) by the watcher: only while reads wait, or to measure the lag for reads without a token.",
    rises:
      'Reads wait for the replica more often, or tokenless reads need the lag measured (at most every SLUICE_REPLICA_MAX_LAG_MS/4).',
  },
] as const satisfies readonly MetricSpec[];

/** The name of a Sluice metric family. */
export type MetricName = (typeof METRICS)[number]['name'];

/** Prefix of prom-client's default process metrics in Sluice's registry. */
export const DEFAULT_METRICS_PREFIX = 'sluice_';

/** The spec of one family. */
export function metricSpec(name: MetricName): MetricSpec {
  return METRICS.find((m) => m.name === name)!;
}

/** The metrics table as markdown lines (docs/metrics.md). */
export function metricsTable(): string[] {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return [
    '| metric | type | labels | meaning | when it rises |',
    '|---|---|---|---|---|',
    ...METRICS.map(
      (m: MetricSpec) =>
        `| \`${m.name}\` | ${m.type} | ${m.labels.map((l) => `\`${l}\``).join(', ') || '—'} | ${cell(m.help)} | ${cell(m.rises)} |`,
    ),
  ];
}
