// The error catalogue: every error the broker itself produces, with its HTTP status, WS close code and retry advice.

/** One catalogue entry. `wsClose` is set where the error closes a WebSocket rather than answering one request. */
export interface ErrorSpec {
  /** HTTP status of a response that carries this error. */
  readonly status: number;
  /** Whether sending the same request again can succeed (nothing ran, or the condition is temporary). */
  readonly retryable: boolean;
  /** WebSocket close code when the error ends a socket. */
  readonly wsClose?: number;
  /** One line for the errors table of docs/errors.md. */
  readonly meaning: string;
}

/** Every error code the broker can answer with. docs/errors.md is generated from it (npm run docs). */
export const ERROR_CATALOGUE = {
  SLUICE_ERR_AUTH_MISSING: {
    status: 401,
    retryable: false,
    meaning: 'No token: send `Authorization: Bearer <token>` or `?_token=`.',
  },
  SLUICE_ERR_AUTH_INVALID: {
    status: 401,
    retryable: false,
    meaning: 'The token is not one the broker knows.',
  },
  SLUICE_ERR_AUTH_REVOKED: {
    status: 401,
    retryable: false,
    wsClose: 4001,
    meaning:
      'The token was removed from SLUICE_TOKENS_FILE (reloaded): its open WebSockets close with 4001 `token revoked`, its SSE streams end with this error.',
  },
  SLUICE_ERR_REDIS_CONNECTIONS_LIMIT: {
    status: 503,
    retryable: true,
    meaning:
      'The broker already holds SLUICE_MAX_REDIS_CONNECTIONS connections to Redis (all tenants together); the connection this needed was not opened and nothing was sent.',
  },
  SLUICE_ERR_AUTH_NOPERM: {
    status: 400,
    retryable: false,
    meaning: "The token's rights do not allow this command (`NOPERM …`, per item in a pipeline).",
  },
  SLUICE_ERR_AUTH_SCRIPT_REFUSED: {
    status: 400,
    retryable: false,
    meaning:
      "A script (EVAL*, FCALL*) of a token with limited rights was not run: the broker could not run it as a Redis ACL user holding only the token's rights; the message says why (no `ACL SETUSER` right, Redis before 6.2, Cluster or Sentinel).",
  },
  SLUICE_ERR_HTTP_METHOD: {
    status: 405,
    retryable: false,
    meaning: 'Only GET, HEAD, POST and PUT are served (POST only for /pipeline and /multi-exec).',
  },
  SLUICE_ERR_HTTP_BODY_TOO_LARGE: {
    status: 413,
    retryable: false,
    meaning: 'The request body is larger than SLUICE_MAX_BODY_BYTES.',
  },
  SLUICE_ERR_HTTP_BAD_PATH: {
    status: 400,
    retryable: false,
    meaning: 'A path or query segment has a malformed percent-escape.',
  },
  SLUICE_ERR_HTTP_BAD_TARGET: {
    status: 400,
    retryable: false,
    meaning: 'The request target is neither a path (`/…`) nor an absolute `http(s)://host/…` URL.',
  },
  SLUICE_ERR_HTTP_BAD_HEADER: {
    status: 400,
    retryable: false,
    meaning: 'A header has a value the broker does not accept, or headers combine badly (resp2 with base64).',
  },
  SLUICE_ERR_HTTP_BAD_REQUEST: {
    status: 400,
    retryable: false,
    meaning: 'The HTTP request itself is malformed; the connection is closed.',
  },
  SLUICE_ERR_HTTP_HEADERS_TOO_LARGE: {
    status: 431,
    retryable: false,
    meaning: 'The request headers exceed 16 KiB.',
  },
  SLUICE_ERR_HTTP_TIMEOUT: {
    status: 408,
    retryable: true,
    meaning:
      'The request did not arrive within SLUICE_HTTP_HEADERS_TIMEOUT_MS / SLUICE_HTTP_REQUEST_TIMEOUT_MS; nothing ran.',
  },
  SLUICE_ERR_HTTP_NOT_TLS: {
    status: 400,
    retryable: false,
    meaning:
      'Plain HTTP sent to a listener that speaks HTTPS (SLUICE_TLS_CERT_FILE is set): use https:// and wss://. Answered in clear text, then the connection is closed.',
  },
  SLUICE_ERR_HTTP_NOT_FOUND: { status: 404, retryable: false, meaning: 'No such route on this listener.' },
  SLUICE_ERR_REQUEST_BAD_JSON: { status: 400, retryable: false, meaning: 'The body is not valid JSON.' },
  SLUICE_ERR_REQUEST_BAD_COMMAND: {
    status: 400,
    retryable: false,
    meaning:
      'The body is not a command (a non-empty array of strings, numbers and booleans) or a list of them.',
  },
  SLUICE_ERR_REQUEST_TOO_MANY_COMMANDS: {
    status: 400,
    retryable: false,
    meaning: 'A pipeline or transaction has more commands than SLUICE_MAX_PIPELINE_COMMANDS.',
  },
  SLUICE_ERR_COMMAND_REFUSED: {
    status: 400,
    retryable: false,
    meaning:
      'The command changes connection state or needs its own connection; the message says what to use instead.',
  },
  SLUICE_ERR_REDIS: {
    status: 400,
    retryable: false,
    meaning: 'Redis answered with an error; its text passes through unchanged.',
  },
  SLUICE_ERR_QUEUE_FULL: {
    status: 503,
    retryable: true,
    wsClose: 1013,
    meaning: 'SLUICE_QUEUE_MAX requests are already waiting for the pool; refused at once.',
  },
  SLUICE_ERR_QUEUE_TIMEOUT: {
    status: 503,
    retryable: true,
    meaning: 'The request waited SLUICE_QUEUE_TIMEOUT_MS for the pool and was not sent.',
  },
  SLUICE_ERR_DEADLINE_EXPIRED: {
    status: 504,
    retryable: true,
    meaning: 'The request deadline passed before its commands were written; nothing was sent.',
  },
  SLUICE_ERR_REDIS_UNAVAILABLE: {
    status: 503,
    retryable: true,
    meaning: 'No connection to Redis is up; nothing was sent. The broker reconnects by itself.',
  },
  SLUICE_ERR_REDIS_TIMEOUT: {
    status: 504,
    retryable: false,
    meaning:
      'A written command got no reply within SLUICE_COMMAND_TIMEOUT_MS (or the request deadline); it may have run.',
  },
  SLUICE_ERR_REDIS_CONNECTION_LOST: {
    status: 502,
    retryable: false,
    meaning:
      'The Redis connection closed after the command was written; it may have run. It is never re-sent.',
  },
  SLUICE_ERR_REPLY_TOO_LARGE: {
    status: 400,
    retryable: false,
    meaning:
      "One request's replies passed SLUICE_MAX_REPLY_BYTES: the commands ran, the replies past the limit are this error (per item in a pipeline).",
  },
  SLUICE_ERR_PUBSUB_BAD_NAME: {
    status: 400,
    retryable: false,
    meaning:
      'A channel or pattern name is empty, longer than 1024 bytes or holds a newline; a pattern must be valid UTF-8.',
  },
  SLUICE_ERR_PUBSUB_LIMIT: {
    status: 503,
    retryable: true,
    meaning:
      'The shared subscriber already holds SLUICE_SUBSCRIBER_MAX_CHANNELS channels and patterns; nothing was subscribed.',
  },
  SLUICE_ERR_PUBSUB_SLOW_LISTENER: {
    status: 503,
    retryable: true,
    meaning:
      'A listener read so slowly that more than SLUICE_SUBSCRIBER_BUFFER_BYTES waited for it; its stream was cut off.',
  },
  SLUICE_ERR_BLOCKING_POOL_FULL: {
    status: 503,
    retryable: true,
    meaning:
      'Every blocking-pool connection (SLUICE_BLOCKING_POOL_SIZE) is running a blocking command; refused at once.',
  },
  SLUICE_ERR_BLOCKING_BAD_TIMEOUT: {
    status: 400,
    retryable: false,
    meaning: 'A blocking command has a negative or non-numeric timeout; nothing was sent.',
  },
  SLUICE_ERR_DRAINING: {
    status: 503,
    retryable: true,
    wsClose: 1001,
    meaning: 'The broker is shutting down and takes no new work.',
  },
  SLUICE_ERR_WS_BAD_FRAME: {
    status: 400,
    retryable: false,
    wsClose: 1008,
    meaning: 'A WebSocket frame is not a JSON object with an `id` (number or string); the socket is closed.',
  },
  SLUICE_ERR_WS_PROTOCOL: {
    status: 400,
    retryable: false,
    wsClose: 1002,
    meaning:
      'A WebSocket frame breaks RFC 6455 (unmasked, reserved bits or an unknown opcode, a fragmented or oversized control frame, a bad close code); the socket is closed.',
  },
  SLUICE_ERR_WS_BINARY_FRAME: {
    status: 400,
    retryable: false,
    wsClose: 1003,
    meaning:
      'A binary WebSocket frame arrived; the protocol takes text frames of JSON. The socket is closed.',
  },
  SLUICE_ERR_WS_BAD_UTF8: {
    status: 400,
    retryable: false,
    wsClose: 1007,
    meaning: 'A WebSocket text message or close reason is not valid UTF-8; the socket is closed.',
  },
  SLUICE_ERR_WS_FRAME_TOO_LARGE: {
    status: 413,
    retryable: false,
    wsClose: 1009,
    meaning:
      'A WebSocket message (a frame, or its fragments together) is larger than SLUICE_WS_MAX_FRAME_BYTES; the socket is closed.',
  },
  SLUICE_ERR_WS_TOO_MANY_PARTS: {
    status: 413,
    retryable: false,
    wsClose: 1008,
    meaning:
      'A WebSocket message came in more than 16,384 fragments, or one frame in more reads than SLUICE_WS_MAX_FRAME_BYTES / 400 (at least 1,024): bounds on the Buffers one socket makes the broker hold. The socket is closed.',
  },
  SLUICE_ERR_WS_BAD_REQUEST: {
    status: 400,
    retryable: false,
    meaning:
      'A WebSocket request has an id but no known operation (`cmd`, `pipeline`, `multi`, `subscribe`, …) or a bad field.',
  },
  SLUICE_ERR_WS_MAX_INFLIGHT: {
    status: 429,
    retryable: true,
    meaning: 'The socket already has SLUICE_WS_MAX_INFLIGHT requests unanswered; this one was not run.',
  },
  SLUICE_ERR_QUOTA_REQUESTS: {
    status: 429,
    retryable: true,
    meaning:
      'The token (or its tenant) is over its requests per second: `quota.requestsPerSecond`/`quota.burst` in the tokens file, else SLUICE_TOKEN_REQUESTS_PER_SECOND/SLUICE_TOKEN_BURST. Nothing ran; Retry-After says when the bucket has room.',
  },
  SLUICE_ERR_QUOTA_COMMANDS: {
    status: 429,
    retryable: true,
    meaning:
      'The token (or its tenant) is over its commands per second (each command of a pipeline or transaction counts): `quota.commandsPerSecond`, else SLUICE_TOKEN_COMMANDS_PER_SECOND. Nothing ran; Retry-After says when.',
  },
  SLUICE_ERR_QUOTA_INFLIGHT: {
    status: 429,
    retryable: true,
    meaning:
      'The token (or its tenant) already has its requests in flight (sent, not yet answered): `quota.inflight`, else SLUICE_TOKEN_MAX_INFLIGHT. Nothing ran.',
  },
  SLUICE_ERR_QUOTA_SOCKETS: {
    status: 429,
    retryable: true,
    meaning:
      'The token (or its tenant) already has its WebSockets and SSE streams open: `quota.sockets`, else SLUICE_TOKEN_MAX_SOCKETS. The upgrade or stream is refused.',
  },
  SLUICE_ERR_WS_MAX_SOCKETS: {
    status: 503,
    retryable: true,
    meaning: 'The process already holds SLUICE_WS_MAX_SOCKETS WebSockets; the upgrade is refused.',
  },
  SLUICE_ERR_WS_SLOW_READER: {
    status: 503,
    retryable: true,
    wsClose: 1013,
    meaning:
      'The socket did not read its replies: more than SLUICE_WS_SEND_BUFFER_BYTES waited to be sent. The socket is closed.',
  },
  SLUICE_ERR_WS_HEARTBEAT: {
    status: 408,
    retryable: true,
    wsClose: 1006,
    meaning:
      'The socket did not answer a ping within SLUICE_WS_HEARTBEAT_MS; it is dropped without a close frame.',
  },
  SLUICE_ERR_INTERNAL: {
    status: 500,
    retryable: false,
    wsClose: 1011,
    meaning: 'A bug in the broker; the log has the details.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error built from the catalogue. Match on `.code`, never on the message. */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Seconds for `Retry-After` on 503s and 429s. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.retryAfterSeconds =
      spec.status === 503 || spec.status === 429 ? (options?.retryAfterSeconds ?? 1) : undefined;
  }
}

/** Whether a value is a SluiceError (across module copies too). */
export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof SluiceError;
}
