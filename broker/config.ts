// Configuration: one table of options, read from flags and SLUICE_* environment variables, validated all at once.

/** The broker's whole configuration, frozen after parsing. Numeric options carry their unit in their name. */
export interface Config {
  /** Standalone Redis URL (`redis://`, `rediss://`); undefined = the default address, possibly a private child. */
  readonly redisUrl: string | undefined;
  readonly redisTlsCaFile: string | undefined;
  readonly redisTlsCertFile: string | undefined;
  readonly redisTlsKeyFile: string | undefined;
  readonly redisTlsServername: string | undefined;
  /** `host:port,…` of the Sentinels; with redisSentinelName, every connection follows the current primary. */
  readonly redisSentinels: string | undefined;
  readonly redisSentinelName: string | undefined;
  /** `host:port,…` seed nodes of a Redis Cluster; commands are routed by slot. */
  readonly redisClusterNodes: string | undefined;
  /** The local read replica of a read region: reads here, writes to redisUrl (issue 20); undefined = none. */
  readonly replicaUrl: string | undefined;
  /** HMAC key of sync tokens, shared by every broker of a deployment; undefined = random per process. */
  readonly syncSecret: string | undefined;
  /** Longest wait for the replica to reach a read's sync token before the primary serves it (ms). */
  readonly syncWaitMs: number;
  /** Tokenless reads go to the primary while the replica is estimated this far behind (ms). */
  readonly replicaMaxLagMs: number;
  /** Whether the newest position handed to an auth token floors that token's reads. */
  readonly syncPerTokenFloor: boolean;
  readonly host: string;
  /** PEM certificate (chain) and key of the main listener: set, it speaks HTTPS and WSS (the admin listener stays plain). */
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** PEM CA(s) whose client certificates the main listener requires (mTLS); needs tlsCertFile. */
  readonly tlsClientCaFile: string | undefined;
  /** Path prefix every route sits under (`/redis` serves `/redis`, `/redis/pipeline`, …); '' for none. */
  readonly basePath: string;
  readonly port: number;
  readonly adminHost: string;
  readonly adminPort: number;
  readonly token: string | undefined;
  readonly readonlyToken: string | undefined;
  readonly tokensFile: string | undefined;
  readonly poolSize: number;
  readonly workers: number;
  readonly maxInflight: number;
  readonly queueMax: number;
  readonly queueTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly redisStallMs: number;
  readonly redisConnectTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxPipelineCommands: number;
  readonly maxReplyBytes: number;
  readonly clientMaxPendingBytes: number;
  readonly tokenMaxPendingBytes: number;
  readonly tokenRequestsPerSecond: number;
  readonly tokenBurst: number;
  readonly tokenCommandsPerSecond: number;
  readonly tokenMaxInflight: number;
  readonly tokenMaxSockets: number;
  readonly drainTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpRequestTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  readonly httpMaxConnections: number;
  readonly blockingPoolSize: number;
  readonly maxRedisConnections: number;
  readonly tenantPoolSize: number;
  readonly tenantBlockingPoolSize: number;
  readonly tenantIdleMs: number;
  readonly blockingMaxMs: number;
  readonly blockingIdleMs: number;
  readonly subscriberBufferBytes: number;
  readonly subscriberMaxChannels: number;
  readonly sseKeepaliveMs: number;
  readonly wsMaxFrameBytes: number;
  readonly wsMaxInflight: number;
  readonly wsMaxSockets: number;
  readonly wsSendBufferBytes: number;
  readonly wsHeartbeatMs: number;
  readonly wsCompression: boolean;
  readonly metricsEnabled: boolean;
  readonly logLevel: LogLevel;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'string' }
  | { type: 'url' }
  | { type: 'addresses' }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] };

/** One option: its key in Config, its flag and env names, default and help. docs/configuration.md is generated from it. */
export interface OptionSpec {
  readonly key: keyof Config;
  readonly kind: Kind;
  /** Default value; undefined means "none". A string default is shown as is in --help. */
  readonly default: string | number | boolean | undefined;
  readonly help: string;
}

const MiB = 1024 * 1024;
const int = (min: number, max: number): Kind => ({ type: 'int', min, max });

/** Every option, in --help order. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'redisUrl',
    kind: { type: 'url' },
    default: undefined,
    help: 'Standalone Redis (redis:// or rediss://). Unset: redis://127.0.0.1:6379, or a private redis-server when nothing answers there.',
  },
  {
    key: 'redisTlsCaFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'PEM file of the CA that signed the Redis server certificate (rediss:// only). Unset: the system CAs.',
  },
  {
    key: 'redisTlsCertFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'PEM client certificate, when Redis requires one (rediss:// only).',
  },
  {
    key: 'redisTlsKeyFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'PEM private key of the client certificate (rediss:// only).',
  },
  {
    key: 'redisTlsServername',
    kind: { type: 'string' },
    default: undefined,
    help: "Name checked against the Redis server certificate (SNI). Unset: the URL's host.",
  },
  {
    key: 'redisSentinels',
    kind: { type: 'addresses' },
    default: undefined,
    help: 'Sentinels as host:port,host:port. Set with --redis-sentinel-name: connections follow the current primary; the URL then only gives user, password, database and rediss:.',
  },
  {
    key: 'redisSentinelName',
    kind: { type: 'string' },
    default: undefined,
    help: 'Name of the primary the Sentinels watch (their `sentinel monitor <name>`).',
  },
  {
    key: 'redisClusterNodes',
    kind: { type: 'addresses' },
    default: undefined,
    help: 'Redis Cluster seed nodes as host:port,host:port: commands are routed by slot. The URL then only gives user, password and rediss:.',
  },
  {
    key: 'replicaUrl',
    kind: { type: 'url' },
    default: undefined,
    help: 'Local read replica of a read region (redis:// or rediss://, a `replicaof` of SLUICE_REDIS_URL): reads flagged readonly are served here, everything else by SLUICE_REDIS_URL. Not with Sentinel or Cluster. See docs/read-regions.md.',
  },
  {
    key: 'syncSecret',
    kind: { type: 'string' },
    default: undefined,
    help: "Key that signs upstash-sync-token (HMAC-SHA256); give every broker of a deployment the same one so each reads the others' tokens. Setting it makes tokens carry the primary's position even without a replica. Unset: random per process (shared with its workers).",
  },
  {
    key: 'syncWaitMs',
    kind: int(0, 60_000),
    default: 100,
    help: 'Longest time a read with a sync token waits for the replica to catch up; then the primary serves it.',
  },
  {
    key: 'replicaMaxLagMs',
    kind: int(0, 3_600_000),
    default: 1000,
    help: 'Reads without a sync token go to the primary while the replica is estimated this many ms behind (or its link is down).',
  },
  {
    key: 'syncPerTokenFloor',
    kind: { type: 'bool' },
    default: true,
    help: "The newest position this broker handed to an auth token is the floor of that token's reads (read-your-writes for clients that send a stale or no sync token).",
  },
  {
    key: 'host',
    kind: { type: 'string' },
    default: '127.0.0.1',
    help: 'Address of the main listener (REST, /ws, SSE).',
  },
  { key: 'port', kind: int(0, 65535), default: 8080, help: 'Port of the main listener; 0 picks a free one.' },
  {
    key: 'tlsCertFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'PEM certificate (leaf first, then its chain) of the main listener; with --tls-key-file it serves HTTPS, WSS and SSE over HTTPS only (TLS 1.2+). Reloaded when the file changes or on SIGHUP. The admin listener stays plain.',
  },
  {
    key: 'tlsKeyFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'PEM private key of --tls-cert-file (unencrypted).',
  },
  {
    key: 'tlsClientCaFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'PEM CA certificate(s): clients must present a certificate signed by one of them (mTLS); others are refused during the handshake. Needs --tls-cert-file.',
  },
  {
    key: 'basePath',
    kind: { type: 'string' },
    default: '',
    help: 'Path prefix of every route, for a proxy that forwards /prefix/… unchanged (e.g. /redis); the client URL then ends in it.',
  },
  {
    key: 'adminHost',
    kind: { type: 'string' },
    default: undefined,
    help: 'Address of the admin listener (/metrics, /healthz, /readyz); defaults to --host.',
  },
  {
    key: 'adminPort',
    kind: int(0, 65535),
    default: 9190,
    help: 'Port of the admin listener; 0 picks a free one.',
  },
  {
    key: 'token',
    kind: { type: 'string' },
    default: undefined,
    help: 'Bearer token with every right. Unset (and no other token): one is generated and printed at start.',
  },
  {
    key: 'readonlyToken',
    kind: { type: 'string' },
    default: undefined,
    help: 'Bearer token limited to read commands (plus PING, ECHO and subscribing).',
  },
  {
    key: 'tokensFile',
    kind: { type: 'string' },
    default: undefined,
    help: 'JSON file of tokens with their rights and tenants (docs/security.md, docs/tenants.md); reloaded when it changes and on SIGHUP.',
  },
  {
    key: 'poolSize',
    kind: int(1, 64),
    default: 4,
    help: 'Redis connections in the main pool (per process).',
  },
  { key: 'workers', kind: int(1, 64), default: 1, help: 'Processes sharing the port (node:cluster).' },
  {
    key: 'maxInflight',
    kind: int(1, 1_000_000),
    default: 1024,
    help: 'Requests running on the main pool at once; more wait in the queue.',
  },
  {
    key: 'queueMax',
    kind: int(0, 10_000_000),
    default: 10000,
    help: 'Requests waiting for the pool; beyond it new requests get 503 at once.',
  },
  {
    key: 'queueTimeoutMs',
    kind: int(1, 3_600_000),
    default: 2000,
    help: 'Longest wait in the queue before a 503.',
  },
  {
    key: 'commandTimeoutMs',
    kind: int(1, 3_600_000),
    default: 5000,
    help: "A written command's reply deadline; then 504.",
  },
  {
    key: 'redisStallMs',
    kind: int(100, 3_600_000),
    default: 10000,
    help: 'A pool connection with unanswered commands and no reply for this long is closed and reopened (its commands get 502), and the idle ones with it.',
  },
  {
    key: 'redisConnectTimeoutMs',
    kind: int(1, 600_000),
    default: 2000,
    help: 'Deadline for opening a Redis connection.',
  },
  {
    key: 'maxBodyBytes',
    kind: int(1, 1024 * MiB),
    default: 10 * MiB,
    help: 'Request body limit; beyond it 413.',
  },
  {
    key: 'maxPipelineCommands',
    kind: int(1000, 10_000_000),
    // One request's commands are parsed, prepared and encoded in one go: six parallel /pipelines of 100,000 GETs held
    // the event loop for seconds and timed out other clients (issue 17); 20,000 each kept their pings under a second.
    default: 20_000,
    help: 'Commands in one /pipeline or /multi-exec (at least 1000, the client batch size); more is refused at once, as each request is parsed and answered in one go.',
  },
  {
    key: 'maxReplyBytes',
    kind: int(1024, 4096 * MiB),
    default: 64 * MiB,
    help: 'Reply bytes of one request (a command, a /pipeline, a WebSocket frame); past it each further reply is SLUICE_ERR_REPLY_TOO_LARGE (the commands still run).',
  },
  {
    key: 'clientMaxPendingBytes',
    kind: int(1024, 4096 * MiB),
    default: 8 * MiB,
    help: 'Reply bytes one HTTP connection or WebSocket may have owed (answers not yet read by it, plus its requests in flight at their recent reply size); over it the broker reads no more of its requests until it catches up.',
  },
  {
    key: 'tokenMaxPendingBytes',
    kind: int(1024, 65536 * MiB),
    default: 16 * MiB,
    help: 'The same, over all connections and WebSockets of one token (their unread answers plus their running requests at their recent reply size): over it, none of them starts a second request until answers are read.',
  },
  {
    key: 'tokenRequestsPerSecond',
    kind: int(0, 1_000_000_000),
    default: 0,
    help: 'Default quota of every token: requests per second, over all workers (a token bucket; each HTTP request and WebSocket request counts 1). 0: no limit. A tokens-file `quota` overrides it (docs/quotas.md).',
  },
  {
    key: 'tokenBurst',
    kind: int(0, 1_000_000_000),
    default: 0,
    help: 'Requests a token may send at once before SLUICE_TOKEN_REQUESTS_PER_SECOND applies (the bucket size). 0: one second of that rate.',
  },
  {
    key: 'tokenCommandsPerSecond',
    kind: int(0, 1_000_000_000),
    default: 0,
    help: 'Default quota of every token: commands per second, each command of a /pipeline, /multi-exec or WebSocket pipeline counted. 0: no limit.',
  },
  {
    key: 'tokenMaxInflight',
    kind: int(0, 1_000_000_000),
    // As many as a process takes connections: a single app never meets it, while one of many apps cannot pile up
    // unbounded WebSocket requests (SLUICE_WS_MAX_INFLIGHT × sockets); many apps on one broker set it lower.
    default: 16384,
    help: 'Default quota of every token: requests in flight (sent, not yet answered) over all its connections and workers; past it 429. 0: no limit.',
  },
  {
    key: 'tokenMaxSockets',
    kind: int(0, 1_000_000_000),
    default: 16384,
    help: 'Default quota of every token: WebSockets and SSE streams open at once, over all workers; past it 429. 0: no limit.',
  },
  {
    key: 'drainTimeoutMs',
    kind: int(0, 3_600_000),
    default: 10000,
    help: 'On SIGTERM: time given to in-flight work before exit.',
  },
  {
    key: 'httpHeadersTimeoutMs',
    kind: int(100, 3_600_000),
    default: 10000,
    help: 'Time a client has to send request headers (slowloris bound).',
  },
  {
    key: 'httpRequestTimeoutMs',
    kind: int(100, 3_600_000),
    default: 30000,
    help: 'Time a client has to send a whole request, body included.',
  },
  {
    key: 'httpKeepAliveTimeoutMs',
    kind: int(100, 3_600_000),
    default: 65000,
    help: 'Idle keep-alive connections are closed after this (checked every quarter of it, at most every second).',
  },
  {
    key: 'httpMaxConnections',
    kind: int(1, 1_000_000),
    default: 16384,
    help: 'Open client connections per process (HTTP, SSE and WebSocket together).',
  },
  {
    key: 'maxRedisConnections',
    kind: int(1, 100_000),
    default: 512,
    help: 'Redis connections of one process, all pools and tenants together (main, blocking, subscriber, scripts, MONITOR); a connection past it is not opened and its request gets 503.',
  },
  {
    key: 'tenantPoolSize',
    kind: int(1, 64),
    default: 2,
    help: "Main-pool connections of each tenant of the tokens file (its own Redis), opened on the tenant's first request.",
  },
  {
    key: 'tenantBlockingPoolSize',
    kind: int(1, 1024),
    default: 4,
    help: 'Blocking-command connections of each tenant, one command each.',
  },
  {
    key: 'tenantIdleMs',
    kind: int(1000, 86_400_000),
    default: 300000,
    help: "A tenant's connections are closed after it has had no request, subscription or blocking command for this long.",
  },
  {
    key: 'blockingPoolSize',
    kind: int(1, 1024),
    default: 8,
    help: 'Connections for blocking commands (BLPOP, XREAD BLOCK, …), one command each.',
  },
  {
    key: 'blockingMaxMs',
    kind: int(1, 3_600_000),
    default: 30000,
    help: 'Longest block; a timeout of 0 or beyond this is capped to it.',
  },
  {
    key: 'blockingIdleMs',
    kind: int(1, 3_600_000),
    default: 60000,
    help: 'An idle blocking connection is closed after this.',
  },
  {
    key: 'subscriberBufferBytes',
    kind: int(1024, 1024 * MiB),
    default: MiB,
    help: 'Per-listener send buffer before a slow listener is cut off.',
  },
  {
    key: 'subscriberMaxChannels',
    kind: int(1, 10_000_000),
    default: 100000,
    help: 'Channels and patterns the shared subscriber holds at once (all listeners together); more are refused.',
  },
  {
    key: 'sseKeepaliveMs',
    kind: int(100, 3_600_000),
    default: 15000,
    help: 'Interval of SSE keep-alive comments.',
  },
  {
    key: 'wsMaxFrameBytes',
    kind: int(1024, 1024 * MiB),
    default: 10 * MiB,
    help: 'Largest WebSocket message accepted (one frame, or the fragments of one message together); a larger one closes the socket with 1009.',
  },
  { key: 'wsMaxInflight', kind: int(1, 1_000_000), default: 1024, help: 'Requests in flight per WebSocket.' },
  { key: 'wsMaxSockets', kind: int(1, 1_000_000), default: 16384, help: 'WebSockets open per process.' },
  {
    key: 'wsSendBufferBytes',
    kind: int(1024, 1024 * MiB),
    default: 16 * MiB,
    help: 'Per-socket send buffer before a slow reader is disconnected.',
  },
  {
    key: 'wsHeartbeatMs',
    kind: int(100, 3_600_000),
    default: 30000,
    help: 'Ping interval; a socket that misses a pong is closed.',
  },
  {
    key: 'wsCompression',
    kind: { type: 'bool' },
    default: false,
    help: 'Offer permessage-deflate to WebSocket clients that ask for it, bounded: the broker compresses with a 1 KiB window and keeps no context between messages, replies under 1 KiB go as they are, 4 zlib jobs run at once per process, and inflated messages still stop at SLUICE_WS_MAX_FRAME_BYTES (1009). Costs up to ~50 KiB per socket that uses it.',
  },
  {
    key: 'metricsEnabled',
    kind: { type: 'bool' },
    default: true,
    help: 'Collect and serve Prometheus metrics.',
  },
  {
    key: 'logLevel',
    kind: { type: 'enum', values: LOG_LEVELS },
    default: 'info',
    help: 'JSON log level on stderr.',
  },
];

/** `poolSize` → `--pool-size`. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `poolSize` → `SLUICE_POOL_SIZE`. */
export function envName(key: string): string {
  return 'SLUICE_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Thrown when configuration is wrong; `problems` lists every one of them. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The result of reading argv: either a configuration or a request for help. */
export type ParsedArgs = { help: true } | { help: false; config: Config };

/**
 * Reads flags (`--pool-size 4` or `--pool-size=4`) and SLUICE_* variables; flags win. Throws ConfigError
 * listing every problem found.
 */
export function parseConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedArgs {
  const problems: string[] = [];
  const byFlag = new Map(OPTIONS.map((o) => [flagName(o.key), o]));
  const raw = new Map<keyof Config, { value: string; source: string }>();

  for (const option of OPTIONS) {
    const value = env[envName(option.key)];
    if (value !== undefined && value !== '') raw.set(option.key, { value, source: envName(option.key) });
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { help: true };
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const option = byFlag.get(flag);
    if (!option) {
      problems.push(`unknown argument ${JSON.stringify(arg)} (see --help)`);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (option.kind.type === 'bool' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--')))
      value = 'true';
    else value = argv[++i];
    if (value === undefined) problems.push(`${flag} needs a value`);
    else raw.set(option.key, { value, source: flag });
  }

  const config: Record<string, unknown> = {};
  for (const option of OPTIONS) {
    const given = raw.get(option.key);
    if (!given) {
      config[option.key] = option.default;
      continue;
    }
    const parsed = parseValue(option.kind, given.value);
    if (parsed.ok) config[option.key] = parsed.value;
    else problems.push(`${given.source}=${JSON.stringify(given.value)}: expected ${parsed.expected}`);
  }
  config['adminHost'] ??= config['host'];
  const basePath = config['basePath'] as string;
  if (basePath !== '' && !/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(basePath)) {
    problems.push(
      `SLUICE_BASE_PATH=${JSON.stringify(basePath)}: expected a path such as /redis (no trailing slash, query or fragment)`,
    );
  }
  if (config['token'] !== undefined && config['token'] === config['readonlyToken']) {
    problems.push('SLUICE_TOKEN and SLUICE_READONLY_TOKEN must differ');
  }
  if ((config['redisSentinels'] === undefined) !== (config['redisSentinelName'] === undefined)) {
    problems.push('SLUICE_REDIS_SENTINELS and SLUICE_REDIS_SENTINEL_NAME go together: set both or neither');
  }
  const tlsFiles = ['redisTlsCaFile', 'redisTlsCertFile', 'redisTlsKeyFile', 'redisTlsServername'] as const;
  const tlsSet = tlsFiles.filter((key) => config[key] !== undefined);
  if (tlsSet.length > 0 && !String(config['redisUrl'] ?? '').startsWith('rediss:')) {
    problems.push(
      `${tlsSet.map(envName).join(', ')} need a rediss:// SLUICE_REDIS_URL (under Sentinel or Cluster its host is ignored)`,
    );
  }
  if ((config['redisTlsCertFile'] === undefined) !== (config['redisTlsKeyFile'] === undefined)) {
    problems.push(
      'SLUICE_REDIS_TLS_CERT_FILE and SLUICE_REDIS_TLS_KEY_FILE go together: set both or neither',
    );
  }
  if ((config['tlsCertFile'] === undefined) !== (config['tlsKeyFile'] === undefined)) {
    problems.push('SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE go together: set both or neither');
  }
  if (config['tlsClientCaFile'] !== undefined && config['tlsCertFile'] === undefined) {
    problems.push(
      'SLUICE_TLS_CLIENT_CA_FILE needs SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE: client certificates are asked for during a TLS handshake',
    );
  }
  if ((config['tokenBurst'] as number) > 0 && config['tokenRequestsPerSecond'] === 0) {
    problems.push('SLUICE_TOKEN_BURST needs SLUICE_TOKEN_REQUESTS_PER_SECOND (it is the size of its bucket)');
  }
  if (config['redisClusterNodes'] !== undefined && config['redisSentinels'] !== undefined) {
    problems.push('SLUICE_REDIS_CLUSTER_NODES and SLUICE_REDIS_SENTINELS exclude each other');
  }
  if ((config['maxRedisConnections'] as number) < (config['poolSize'] as number)) {
    problems.push(
      'SLUICE_MAX_REDIS_CONNECTIONS must be at least SLUICE_POOL_SIZE (the main pool opens at start)',
    );
  } else if (
    config['replicaUrl'] !== undefined &&
    (config['maxRedisConnections'] as number) < 2 * (config['poolSize'] as number)
  ) {
    problems.push(
      'SLUICE_MAX_REDIS_CONNECTIONS must be at least twice SLUICE_POOL_SIZE with SLUICE_REPLICA_URL (the main pool and the replica pool open at start)',
    );
  }
  if (
    config['replicaUrl'] !== undefined &&
    (config['redisClusterNodes'] !== undefined || config['redisSentinels'] !== undefined)
  ) {
    problems.push(
      'SLUICE_REPLICA_URL works with a standalone primary (SLUICE_REDIS_URL) only: replica reads under Sentinel or Cluster are not supported yet',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { help: false, config: Object.freeze(config) as unknown as Config };
}

type Parsed = { ok: true; value: string | number | boolean } | { ok: false; expected: string };

function parseValue(kind: Kind, text: string): Parsed {
  switch (kind.type) {
    case 'int': {
      const expected = `an integer from ${kind.min} to ${kind.max}`;
      if (!/^\d+$/.test(text)) return { ok: false, expected };
      const value = Number(text);
      return value >= kind.min && value <= kind.max ? { ok: true, value } : { ok: false, expected };
    }
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(text)) return { ok: true, value: true };
      if (/^(false|0|no|off)$/i.test(text)) return { ok: true, value: false };
      return { ok: false, expected: 'true or false' };
    case 'enum':
      return kind.values.includes(text)
        ? { ok: true, value: text }
        : { ok: false, expected: `one of ${kind.values.join(', ')}` };
    case 'url': {
      const problem = redisUrlProblem(text);
      return problem === undefined
        ? { ok: true, value: text }
        : { ok: false, expected: 'a redis:// or rediss:// URL' };
    }
    case 'addresses': {
      const parts = text.split(',').map((part) => part.trim());
      return parts.length > 0 && parts.every((part) => /^(\[[^\]]+\]|[^\s:,]+):\d{1,5}$/.test(part))
        ? { ok: true, value: text }
        : { ok: false, expected: 'host:port[,host:port…]' };
    }
    case 'string':
      return { ok: true, value: text };
  }
}

/** Why `text` is not a Redis URL as SLUICE_REDIS_URL takes it (redis:// or rediss://), or undefined. */
export function redisUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected a redis:// or rediss:// URL, got ${JSON.stringify(text.replace(/:[^@/]*@/, ':***@'))}`;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    return `expected a redis:// or rediss:// URL, got the scheme ${url.protocol}`;
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,5}$/.test(url.pathname))
    return `expected a database number after the address (/0, /1, …), got ${JSON.stringify(url.pathname)}`;
  return undefined;
}

/** The text of --help: every option with its env name and default. */
export function helpText(): string {
  const lines = [
    'Usage: sluice [options]   (every option may also be set as the SLUICE_* variable shown)',
    '',
  ];
  for (const option of OPTIONS) {
    const shown = option.default === undefined ? 'none' : String(option.default);
    lines.push(
      `  ${flagName(option.key)} <${option.kind.type}>`.padEnd(36) +
        `${envName(option.key)} (default: ${shown})`,
    );
    lines.push(`      ${option.help}`);
  }
  return lines.join('\n');
}
