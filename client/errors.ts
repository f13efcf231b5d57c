// SluiceError: the one error type the client throws, with the broker's catalogue code or a client-side one.

/** Error codes raised by the client itself (the broker's are `SLUICE_ERR_*` from its catalogue). */
export const CLIENT_CODES = {
  /** fetch failed or the socket dropped after a request was sent: it may have run, and is never re-sent. */
  network: 'SLUICE_ERR_CLIENT_NETWORK',
  /** The WebSocket could not be opened; nothing was sent, so retrying is safe. */
  connect: 'SLUICE_ERR_CLIENT_CONNECT',
  /** The client was closed; requests still pending were failed. */
  closed: 'SLUICE_ERR_CLIENT_CLOSED',
  /** The reply could not be read (not JSON, wrong shape). */
  badReply: 'SLUICE_ERR_CLIENT_BAD_REPLY',
  /** An argument cannot be sent on this transport (bytes that are not UTF-8 inside an HTTP pipeline). */
  badArg: 'SLUICE_ERR_CLIENT_BAD_ARG',
  /** Redis's own error text, passed through unchanged (the broker's `SLUICE_ERR_REDIS` maps here too). */
  redis: 'REDIS_ERR',
} as const;

// Broker codes for which nothing ran or the condition passes (the `retryable` column of the broker's catalogue).
const RETRYABLE = new Set([
  'SLUICE_ERR_QUEUE_FULL',
  'SLUICE_ERR_QUEUE_TIMEOUT',
  'SLUICE_ERR_DEADLINE_EXPIRED',
  'SLUICE_ERR_REDIS_UNAVAILABLE',
  'SLUICE_ERR_DRAINING',
  'SLUICE_ERR_HTTP_TIMEOUT',
  'SLUICE_ERR_PUBSUB_LIMIT',
  'SLUICE_ERR_PUBSUB_SLOW_LISTENER',
  'SLUICE_ERR_BLOCKING_POOL_FULL',
  'SLUICE_ERR_WS_MAX_INFLIGHT',
  'SLUICE_ERR_WS_MAX_SOCKETS',
  'SLUICE_ERR_WS_SLOW_READER',
  'SLUICE_ERR_WS_HEARTBEAT',
  'SLUICE_ERR_REDIS_CONNECTIONS_LIMIT',
  'SLUICE_ERR_QUOTA_REQUESTS',
  'SLUICE_ERR_QUOTA_COMMANDS',
  'SLUICE_ERR_QUOTA_INFLIGHT',
  'SLUICE_ERR_QUOTA_SOCKETS',
  CLIENT_CODES.connect,
]);

/**
 * Every failure of a Sluice client call. Match on `code`, never on `message`.
 * - `code`: a broker catalogue code (`SLUICE_ERR_*`), a client code (`SLUICE_ERR_CLIENT_*`), `REDIS_ERR`
 *   when the message is Redis's own error text (e.g. `WRONGTYPE …`, `NOSCRIPT …`), or `HTTP_<status>` for a
 *   non-Sluice server's error status without a code (e.g. Upstash's 401).
 * - `status`: the HTTP status of the reply, when there was one (HTTP transport only).
 * - `retryable`: `true` only when the command certainly did not run or the condition is temporary
 *   (queue full, deadline expired before sending, Redis unavailable, broker draining, socket never opened).
 */
export class SluiceError extends Error {
  /** Catalogue code; see the class description. */
  readonly code: string;
  /** HTTP status of the reply, if any. */
  readonly status: number | undefined;
  /** Whether sending the same request again can succeed without running it twice. */
  readonly retryable: boolean;

  constructor(message: string, code: string, status?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SluiceError';
    this.code = code === 'SLUICE_ERR_REDIS' ? CLIENT_CODES.redis : code;
    this.status = status;
    this.retryable = RETRYABLE.has(this.code) || code === 'HTTP_503';
  }
}

/**
 * The error for an `{"error": …, "code"?: …}` reply or item. Without a `code` (Upstash, or an item that failed
 * in Redis), a 200 or 400 reply is Redis's own text (`REDIS_ERR`) and any other status gives `HTTP_<status>`
 * (`HTTP_503` is retryable).
 */
export function replyError(error: string, code: string | undefined, status?: number): SluiceError {
  const fallback =
    status === undefined || status === 200 || status === 400 ? CLIENT_CODES.redis : `HTTP_${status}`;
  return new SluiceError(error, code ?? fallback, status);
}
