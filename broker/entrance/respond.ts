// Writing HTTP responses: JSON bodies, Upstash's error shape, Retry-After, and a fresh sync token on every one.
import { ReplyError } from 'ioredis';
import { isSluiceError } from '../errors.js';
import { errorBody } from '../protocol/items.js';
import type { RefusalReason, Telemetry } from '../telemetry.js';
import type { HttpRoute } from './entrance.js';
import type { SyncTokens } from '../protocol/sync-token.js';
import type { SyncPosition } from '../redis/replication.js';

/** What a response is written to: node:http's ServerResponse, or the fast path's FastResponse. */
export interface ResponseSink {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: string[]): unknown;
  end(body: string | Buffer): unknown;
}

/** HTTP status of an error: the catalogue's, or 400 for Redis's own errors (as at Upstash), 500 for the unexpected. */
export function errorStatus(error: Error): number {
  if (isSluiceError(error)) return error.status;
  return error instanceof ReplyError ? 400 : 500;
}

/** Sends responses with the headers every response carries. */
export class Responder {
  readonly #tokens: SyncTokens;
  readonly #telemetry: Telemetry;

  constructor(tokens: SyncTokens, telemetry: Telemetry) {
    this.#tokens = tokens;
    this.#telemetry = telemetry;
  }

  /**
   * A fresh sync token for responses written elsewhere (SSE, refusals): with the position of the request's own token
   * when it verifies (`incoming`), so that a client storing it does not lose its place; else without one.
   */
  syncToken(incoming?: string | string[]): string {
    const read = incoming === undefined || !this.#tokens.positions ? 'none' : this.#tokens.read(incoming);
    return this.#tokens.issue(typeof read === 'string' ? undefined : read.position);
  }

  /**
   * Sends a complete body. `contentType` defaults to JSON; `position` is where the primary's stream was for this
   * answer (its sync token carries it; issue 20).
   */
  send(
    res: ResponseSink,
    route: HttpRoute,
    status: number,
    body: string | Buffer,
    extra?: readonly string[],
    contentType = 'application/json',
    position?: SyncPosition,
  ): void {
    if (res.headersSent || res.destroyed) return;
    const headers = [
      'Content-Type',
      contentType,
      'Content-Length',
      String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
      'upstash-sync-token',
      this.#tokens.issue(position),
    ];
    if (extra) headers.push(...extra);
    res.writeHead(status, headers);
    res.end(body);
    this.#telemetry.httpResponse(route, status);
  }

  /** Sends an error as `{"error":…,"code":…}`, with Retry-After on retryable 503s. */
  error(
    res: ResponseSink,
    route: HttpRoute,
    error: Error,
    extra: readonly string[] = [],
    position?: SyncPosition,
  ): void {
    const status = errorStatus(error);
    const headers = [...extra];
    if (isSluiceError(error) && error.retryAfterSeconds !== undefined)
      headers.push('Retry-After', String(error.retryAfterSeconds));
    if (status === 405) headers.push('Allow', 'GET, HEAD, POST, PUT');
    const reason = isSluiceError(error) ? HTTP_REFUSALS[error.code] : undefined;
    if (reason) this.#telemetry.refused(reason);
    this.send(res, route, status, errorBody(error), headers, undefined, position);
  }
}

/**
 * Refusals decided by the HTTP transport itself. The others are counted where they are decided, once for every
 * transport: the preparer (rights, classification) and the executor (queue, deadline, Redis down).
 */
const HTTP_REFUSALS: Partial<Record<string, RefusalReason>> = {
  SLUICE_ERR_AUTH_MISSING: 'auth',
  SLUICE_ERR_AUTH_INVALID: 'auth',
  SLUICE_ERR_HTTP_METHOD: 'bad_request',
  SLUICE_ERR_HTTP_BAD_PATH: 'bad_request',
  SLUICE_ERR_HTTP_BAD_HEADER: 'bad_request',
  SLUICE_ERR_HTTP_BAD_REQUEST: 'bad_request',
  SLUICE_ERR_REQUEST_BAD_JSON: 'bad_request',
  SLUICE_ERR_REQUEST_BAD_COMMAND: 'bad_request',
  SLUICE_ERR_REQUEST_TOO_MANY_COMMANDS: 'bad_request',
  SLUICE_ERR_HTTP_BODY_TOO_LARGE: 'too_large',
  SLUICE_ERR_DRAINING: 'draining',
};
