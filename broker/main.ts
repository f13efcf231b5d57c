// The entry point: reads argv and the environment, finds Redis, starts the broker (or its workers), handles signals.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { TokenEntry } from './protocol/auth.js';
import { loadTokensFile } from './lifecycle/tokens-reload.js';
import { type Broker, startBroker } from './lifecycle/broker.js';
import { type Config, ConfigError, helpText, parseConfig } from './config.js';
import { createLogger, guardOutput, type Logger } from './log.js';
import {
  DEFAULT_REDIS_URL,
  hasRedisServer,
  type PrivateRedis,
  redisAnswers,
  startPrivateRedis,
} from './lifecycle/private-redis.js';
import { createAdminServer } from './lifecycle/admin.js';
import { missingNodeFlags } from './lifecycle/node-flags.js';
import { clusterScrape, type Metrics, shareWithPrimary } from '../metrics/index.js';
import { randomSyncSecret } from './protocol/sync-token.js';
import { installProcessGuards } from './lifecycle/process-guard.js';
import {
  newTicketKeys,
  readTlsCertificate,
  TICKET_KEYS_BYTES,
  tlsFilesOf,
} from './lifecycle/tls-certificates.js';

/**
 * How the primary gives its workers the TLS session ticket keys (hex), so a session made with one worker resumes on
 * any other; each worker reads it and removes it from its environment at start.
 */
const TICKET_KEYS_ENV = 'SLUICE_INTERNAL_TLS_TICKET_KEYS';

/** The ticket keys the primary passed in the environment (removed from it), or undefined. */
function inheritedTicketKeys(): Buffer | undefined {
  const hex = process.env[TICKET_KEYS_ENV];
  delete process.env[TICKET_KEYS_ENV];
  if (hex === undefined) return undefined;
  const keys = Buffer.from(hex, 'hex');
  return keys.length === TICKET_KEYS_BYTES ? keys : undefined;
}

/**
 * The variable through which the primary tells each worker its place (0 … SLUICE_WORKERS-1), for its exact part of
 * every quota; a worker that replaces a dead one gets the same place. Internal: not a setting.
 */
const WORKER_INDEX_ENV = 'SLUICE_INTERNAL_WORKER_INDEX';

/** Message a worker sends its primary once it listens. */
interface ReadyMessage {
  readonly sluice: 'ready';
  readonly url: string;
}

/** Where the process guards count what reaches them: the broker's metrics once it runs. */
let guardedMetrics: Metrics | undefined;

/**
 * stdout (the start line) and stderr (the log), each with an error listener from the first line on, in the primary and
 * in each worker (they inherit both): a reader that went away ends what is written there, not the process, and never
 * becomes an uncaught error whose log line fails again (log.ts guardOutput). Counted once per stream.
 */
const stdout = guardOutput(process.stdout, () => guardedMetrics?.guarded('output_lost'));
const stderr = guardOutput(process.stderr, () => guardedMetrics?.guarded('output_lost'));

function fail(message: string): never {
  stderr.write(`sluice: ${message}\n`);
  process.exit(1);
}

function readConfig(): Config {
  try {
    const parsed = parseConfig(process.argv.slice(2), process.env);
    if (parsed.help) {
      stdout.write(helpText() + '\n');
      process.exit(0);
    }
    return parsed.config;
  } catch (error) {
    if (error instanceof ConfigError)
      fail(`${error.problems.length} configuration problem(s): ${error.problems.join('; ')}`);
    throw error;
  }
}

/**
 * The tokens from settings (SLUICE_TOKEN, SLUICE_READONLY_TOKEN), and whether one was generated: a full-access one
 * when no token is configured at all (the tokens file, read by the broker, checked here so that start-up fails at once).
 */
function readTokens(config: Config): { tokens: TokenEntry[]; generated: string | undefined } {
  const tokens: TokenEntry[] = [];
  if (config.token) tokens.push({ token: config.token, name: 'SLUICE_TOKEN', right: 'admin' });
  if (config.readonlyToken)
    tokens.push({ token: config.readonlyToken, name: 'SLUICE_READONLY_TOKEN', right: 'readonly' });
  let fromFile = 0;
  if (config.tokensFile) {
    const parsed = loadTokensFile(config.tokensFile, config);
    if ('problems' in parsed)
      fail(`${parsed.problems.length} problem(s) in ${config.tokensFile}: ${parsed.problems.join('; ')}`);
    fromFile = parsed.entries.length;
  }
  if (tokens.length > 0 || fromFile > 0) return { tokens, generated: undefined };
  const generated = randomBytes(24).toString('base64url');
  return { tokens: [{ token: generated, name: 'generated', right: 'admin' }], generated };
}

/** The Redis to use: SLUICE_REDIS_URL, else the default address if it answers, else a private redis-server. */
async function resolveRedis(config: Config, logger: Logger): Promise<{ url: string; child?: PrivateRedis }> {
  if (config.redisUrl !== undefined) return { url: config.redisUrl };
  // Under Sentinel or Cluster the URL only carries credentials (and TLS); the Sentinels or seed nodes give addresses.
  if (config.redisSentinels !== undefined || config.redisClusterNodes !== undefined)
    return { url: DEFAULT_REDIS_URL };
  if (await redisAnswers('127.0.0.1', 6379)) return { url: DEFAULT_REDIS_URL };
  if (!hasRedisServer()) {
    fail(
      `nothing answers at ${DEFAULT_REDIS_URL} and redis-server is not on PATH: start Redis, or set SLUICE_REDIS_URL (--redis-url)`,
    );
  }
  const child = await startPrivateRedis();
  logger.info(
    { event: 'private_redis', url: child.url },
    'started a private redis-server (nothing answered at the default address)',
  );
  return { url: child.url, child };
}

function startLine(
  url: string,
  adminUrl: string,
  redisUrl: string,
  config: Config,
  generated: string | undefined,
  privateRedis: boolean,
): string {
  const redis = privateRedis
    ? `${redisUrl} (private redis-server)`
    : config.redisClusterNodes !== undefined
      ? `cluster:${config.redisClusterNodes}`
      : config.redisSentinels !== undefined
        ? `sentinel:${config.redisSentinelName}@${config.redisSentinels}`
        : masked(redisUrl);
  const replica = config.replicaUrl === undefined ? '' : ` replica=${masked(config.replicaUrl)}`;
  return (
    `sluice ready http=${url}${config.basePath} admin=${adminUrl} redis=${redis}${replica} workers=${config.workers}` +
    (generated ? ` token: ${generated}` : '')
  );
}

/** A Redis URL with its password hidden. */
function masked(url: string): string {
  return url.replace(/\/\/([^:@/]*)(:[^@/]*)?@/, '//$1:***@');
}

function onSignals(handler: () => void): void {
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}

/** What SIGHUP reloads: the running broker, or the primary's workers; nothing while starting. */
let onReload: (() => void) | undefined;

/**
 * SIGHUP re-reads what can change without a restart (the TLS files) instead of ending the process (Node's default).
 * Installed first thing, so a SIGHUP that reaches a worker still starting does not end it.
 */
function listenForReload(): void {
  process.on('SIGHUP', () => onReload?.());
}
/**
 * How the primary process hands its random sync-token key to its workers (not an option: set by the broker itself);
 * each worker reads it and removes it from its environment at start.
 */
const WORKER_SYNC_SECRET = 'SLUICE_INTERNAL_SYNC_SECRET';

/** The sync-token key the primary passed in the environment (removed from it), or undefined. */
function inheritedSyncSecret(): string | undefined {
  const secret = process.env[WORKER_SYNC_SECRET];
  delete process.env[WORKER_SYNC_SECRET];
  return secret === '' ? undefined : secret;
}

async function runSingle(
  config: Config,
  logger: Logger,
  redisUrl: string,
  tokens: TokenEntry[],
  generated: string | undefined,
  child?: PrivateRedis,
): Promise<void> {
  let broker: Broker;
  try {
    broker = await startBroker({ config, redisUrl, tokens, logger });
  } catch (error) {
    child?.stop();
    fail(`could not start: ${(error as Error).message}`);
  }
  guardedMetrics = broker.metrics;
  stdout.write(
    startLine(broker.url, broker.adminUrl, redisUrl, config, generated, child !== undefined) + '\n',
  );
  onReload = () => broker.reload();
  onSignals(() => {
    broker
      .close()
      .then(() => {
        child?.stop();
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing');
        process.exit(1);
      });
  });
}

/** The primary of a multi-process broker: forks workers sharing the port, serves the admin listener, forwards SIGTERM. */
async function runPrimary(
  config: Config,
  logger: Logger,
  redisUrl: string,
  generated: string | undefined,
  child?: PrivateRedis,
): Promise<void> {
  const env = {
    SLUICE_REDIS_URL: redisUrl,
    ...(generated ? { SLUICE_TOKEN: generated } : {}),
    // One set of session ticket keys for all workers: a session resumes whichever worker takes the connection.
    ...(tlsFilesOf(config) ? { [TICKET_KEYS_ENV]: newTicketKeys().toString('hex') } : {}),
    // Without SLUICE_SYNC_SECRET every worker signs sync tokens with the primary's random key, so that a token handed
    // out by one worker verifies at the others (they share the port). Not SLUICE_SYNC_SECRET itself: setting that
    // makes tokens carry positions, which a broker without a replica and without a deployment-wide secret skips.
    ...(config.syncSecret === undefined ? { [WORKER_SYNC_SECRET]: randomSyncSecret() } : {}),
  };
  const ready = new Set<number>();
  let url: string | undefined;
  let stopping = false;
  const admin = createAdminServer({
    notReadyReason: () =>
      stopping
        ? 'draining'
        : ready.size < config.workers
          ? `${ready.size} of ${config.workers} workers ready`
          : undefined,
    // Each scrape asks every worker for its registry and combines them (sums, or min/max where declared).
    ...(config.metricsEnabled ? { metrics: clusterScrape() } : {}),
  });
  admin.listen(config.adminPort, config.adminHost);
  const adminUrl = await new Promise<string>((resolve) =>
    admin.once('listening', () => {
      const address = admin.address();
      resolve(typeof address === 'object' && address ? `http://${address.address}:${address.port}` : '');
    }),
  );
  // Workers run with the V8 settings the broker is tuned for, even when the primary was started without them.
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...missingNodeFlags()] });
  const places = new Map<number, number>();
  const fork = (index: number) =>
    places.set(cluster.fork({ ...env, [WORKER_INDEX_ENV]: String(index) }).id, index);
  for (let i = 0; i < config.workers; i++) fork(i);
  cluster.on('message', (worker, message: ReadyMessage) => {
    if (message?.sluice !== 'ready') return;
    ready.add(worker.id);
    if (url === undefined) {
      url = message.url;
    }
    if (ready.size === config.workers)
      stdout.write(startLine(url, adminUrl, redisUrl, config, generated, child !== undefined) + '\n');
  });
  cluster.on('exit', (worker, code) => {
    ready.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        child?.stop();
        process.exit(0);
      }
      return;
    }
    logger.error({ event: 'worker_exit', code }, 'a worker exited; starting another');
    const index = places.get(worker.id) ?? 0;
    places.delete(worker.id);
    fork(index);
  });
  // Each worker reloads for itself: they serve the connections.
  onReload = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  };
  onSignals(() => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    admin.close();
  });
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel, stderr);
  // A stray rejection or socket error is a bug to log and count, not a reason to drop every client's connection.
  installProcessGuards(logger, (kind) => guardedMetrics?.guarded(kind));
  listenForReload();
  if (cluster.isWorker) {
    const ticketKeys = inheritedTicketKeys();
    const { tokens } = readTokens(config);
    const workerSecret = inheritedSyncSecret();
    const broker = await startBroker({
      config,
      redisUrl: config.redisUrl ?? DEFAULT_REDIS_URL,
      tokens,
      logger: logger.child({ worker: cluster.worker?.id }),
      admin: false,
      ...(ticketKeys ? { tlsTicketKeys: ticketKeys } : {}),
      workerShare: { index: Number(process.env[WORKER_INDEX_ENV] ?? 0), count: config.workers },
      ...(workerSecret ? { syncSecret: workerSecret } : {}),
    });
    guardedMetrics = broker.metrics;
    if (broker.metrics) shareWithPrimary(broker.metrics.registry);
    process.send?.({ sluice: 'ready', url: broker.url } satisfies ReadyMessage);
    onReload = () => broker.reload();
    onSignals(() => void broker.close().then(() => process.exit(0)));
    return;
  }
  const { tokens, generated } = readTokens(config);
  // Checked here too, before any worker starts: a worker that failed on it would only be restarted, again and again.
  const tlsFiles = tlsFilesOf(config);
  if (tlsFiles) {
    try {
      readTlsCertificate(tlsFiles, newTicketKeys());
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const { url: redisUrl, child } = await resolveRedis(config, logger);
  const missing = missingNodeFlags();
  if (config.workers === 1 && missing.length > 0) {
    logger.warn(
      { event: 'node_flags_missing', missing },
      `started without ${missing.join(' ')}: under load, garbage collection can take a large share of the CPU (docs/operations.md, tuning)`,
    );
  }
  if (config.workers > 1) return runPrimary(config, logger, redisUrl, generated, child);
  return runSingle(config, logger, redisUrl, tokens, generated, child);
}

main().catch((error: unknown) => fail((error as Error).stack ?? String(error)));
