// Where Redis is and how to reach it (one address or a Sentinel set; TLS; ACL user), as the ioredis options of every connection.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { RedisOptions } from 'ioredis';

/** A `host:port` pair (a Sentinel or a cluster seed node). */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * How every broker connection (main pool, blocking pool, shared subscriber, MONITOR streams) reaches Redis. Built
 * once from the configuration and passed down unchanged, so all connections agree on address, TLS and credentials.
 */
export interface RedisTarget {
  /**
   * `redis://` or `rediss://` URL. Standalone: the address. Always: the ACL username and password (`user:pass@`),
   * the database (`/2`) and, with `rediss:`, TLS. Under Sentinel its host and port are ignored.
   */
  readonly url: string;
  /** TLS settings beyond the defaults (CA, client certificate, server name); present only with `rediss:`. */
  readonly tls?: TlsOptions;
  /** Sentinel mode: the Sentinels to ask for the current primary of `sentinelName`. */
  readonly sentinel?: { readonly sentinels: readonly RedisAddress[]; readonly name: string };
  /** Cluster mode: seed nodes of a Redis Cluster; the URL then only gives user, password and `rediss:`. */
  readonly cluster?: { readonly nodes: readonly RedisAddress[] };
}

/** The TLS and Sentinel parts of the configuration (see config.ts). */
export interface TargetSettings {
  readonly redisTlsCaFile?: string | undefined;
  readonly redisTlsCertFile?: string | undefined;
  readonly redisTlsKeyFile?: string | undefined;
  readonly redisTlsServername?: string | undefined;
  readonly redisSentinels?: string | undefined;
  readonly redisSentinelName?: string | undefined;
  readonly redisClusterNodes?: string | undefined;
}

/** `"a:1,b:2"` → addresses; throws on anything else (config.ts validates the same shape first). */
export function parseAddresses(text: string): RedisAddress[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const match = /^(.+):(\d{1,5})$/.exec(part);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535)
        throw new Error(`expected host:port, got ${JSON.stringify(part)}`);
      // `[::1]:26379` → `::1`.
      return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
    });
}

/** Builds the target from the URL in use and the TLS/Sentinel settings; reads the certificate files now. */
export function createRedisTarget(url: string, settings: TargetSettings): RedisTarget {
  const tls: TlsOptions = {};
  if (settings.redisTlsCaFile) tls.ca = readFileSync(settings.redisTlsCaFile);
  if (settings.redisTlsCertFile) tls.cert = readFileSync(settings.redisTlsCertFile);
  if (settings.redisTlsKeyFile) tls.key = readFileSync(settings.redisTlsKeyFile);
  if (settings.redisTlsServername) tls.servername = settings.redisTlsServername;
  const sentinel =
    settings.redisSentinels && settings.redisSentinelName
      ? { sentinels: parseAddresses(settings.redisSentinels), name: settings.redisSentinelName }
      : undefined;
  return {
    url,
    ...(url.startsWith('rediss:') ? { tls } : {}),
    ...(sentinel ? { sentinel } : {}),
    ...(settings.redisClusterNodes ? { cluster: { nodes: parseAddresses(settings.redisClusterNodes) } } : {}),
  };
}

/** The URL without its password, for logs and the start line. */
export function describeTarget(target: RedisTarget): string {
  const url = target.url.replace(
    /\/\/([^@/:]*)(:[^@/]*)?@/,
    (_, user: string) => `//${user ? user + ':' : ''}***@`,
  );
  if (target.cluster)
    return `cluster ${target.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')} (${url})`;
  if (!target.sentinel) return url;
  const sentinels = target.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',');
  return `sentinel ${target.sentinel.name}@${sentinels} (${url})`;
}

/**
 * The ioredis options that make a connection follow `target`, merged over the pool's own options. The URL is
 * given to ioredis separately (it parses credentials, database and `rediss:` from it).
 */
export function targetOptions(target: RedisTarget): RedisOptions {
  const options: RedisOptions = {};
  if (target.tls) options.tls = target.tls;
  if (target.sentinel) {
    options.sentinels = target.sentinel.sentinels.map(({ host, port }) => ({ host, port }));
    options.name = target.sentinel.name;
    options.role = 'master';
    // Sentinel publishes +switch-master when it promotes a replica; the detector drops the connection at once so
    // it reconnects to the new primary instead of writing to the demoted one until Sentinel converts it (seconds).
    options.failoverDetector = true;
    // A demoted primary answers writes with READONLY: reconnect (through the Sentinels) without re-sending.
    options.reconnectOnError = (error: Error) => (error.message.startsWith('READONLY') ? 1 : false);
    if (target.tls) {
      options.enableTLSForSentinelMode = true;
      options.sentinelTLS = target.tls;
    }
  }
  return options;
}

/**
 * User, password and TLS for cluster nodes: ioredis's Cluster takes no URL, so they are read from it here (the
 * user info is percent-decoded as ioredis does for standalone URLs).
 */
export function targetCredentials(target: RedisTarget): RedisOptions {
  const url = new URL(target.url);
  const options: RedisOptions = {};
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = target.tls ?? {};
  return options;
}

/**
 * A standalone target for the first cluster seed node, with the same credentials and TLS: classic pub/sub is
 * broadcast to every node of a cluster, so the shared subscriber (and MONITOR, which then shows that node only)
 * connect there.
 */
export function firstNodeTarget(target: RedisTarget): RedisTarget {
  const first = target.cluster?.nodes[0];
  return first ? nodeTarget(target, first) : target;
}

/** A standalone target for one node (`host:port`), with the credentials and TLS of `target`. */
export function nodeTarget(target: RedisTarget, node: RedisAddress): RedisTarget {
  const url = new URL(target.url);
  url.hostname = node.host.includes(':') ? `[${node.host}]` : node.host;
  url.port = String(node.port);
  url.pathname = '';
  return { url: url.toString(), ...(target.tls ? { tls: target.tls } : {}) };
}
