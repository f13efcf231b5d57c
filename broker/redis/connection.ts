// Opening one ioredis connection the way every pool needs it: RESP2, raw replies, no offline queue, no silent re-sends.
import { Redis, type RedisOptions } from 'ioredis';

/** What a pool needs to open connections. */
export interface ConnectionOptions {
  readonly url: string;
  /** CLIENT SETNAME value, so tests and operators can find the broker's connections in CLIENT LIST. */
  readonly name: string;
  readonly connectTimeoutMs: number;
}

/** Reconnect delay: exponential from 50 ms up to 2 s, with full jitter so a fleet does not reconnect in step. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(2000, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A connection that fails fast while Redis is down (no offline queue), never re-sends a written command after a
 * reconnect (`autoResendUnfulfilledCommands: false`, `maxRetriesPerRequest: 0`), and returns integers as decimal
 * strings so values above 2^53 stay exact.
 */
export function openConnection(options: ConnectionOptions, extra: RedisOptions = {}): Redis {
  return new Redis(options.url, {
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
    ...extra,
  });
}
