// The main listener: node:http and the fast path in front of the REST, SSE and WebSocket handlers, each request let
// in or refused as the entrance decides.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.js';
import { TlsEntry } from './tls-entry.js';
import type { Duplex } from 'node:stream';
import { type Clock, realClock } from '../clock.js';
import type { Authenticator } from '../protocol/auth.js';
import type { Responder } from '../entrance/respond.js';
import type { RestHandler } from './rest.js';
import { FastHttp, type FastHost, type FastResponse } from './fast-path.js';
import type { WireRequest } from './wire-request.js';
import { SluiceError } from '../errors.js';
import {
  type CallerMemo,
  Entrance,
  isRestRoute,
  methodRefusal,
  type StreamHandler,
} from '../entrance/entrance.js';
import { writeRawError } from '../entrance/raw-error.js';
import type { UpgradeHandler } from '../entrance/upgrade.js';
import type { Flows } from '../exec/flow.js';
import type { Quotas } from '../entrance/quotas.js';

export interface MainServerOptions {
  /** SLUICE_BASE_PATH: '' or a prefix such as `/redis` that every route sits under. */
  readonly basePath: string;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  /** SLUICE_MAX_BODY_BYTES: larger bodies are node:http's to refuse with 413. */
  readonly maxBodyBytes: number;
  /** Stamps arrivals (the origin of request deadlines) and runs the fast path's idle sweep; real by default. */
  readonly clock?: Clock | undefined;
  /** Set: the listener speaks HTTPS and WSS only (SLUICE_TLS_CERT_FILE). */
  readonly tls?: MainTlsOptions | undefined;
}

/** What makes the main listener speak TLS. */
export interface MainTlsOptions {
  /** Certificate, key, client CAs, session ticket keys, minimum version: what setSecureContext takes on reload. */
  readonly context: SecureContextOptions;
  /** Clients must present a certificate signed by one of `context.ca` (SLUICE_TLS_CLIENT_CA_FILE, mTLS). */
  readonly requireClientCertificate: boolean;
  /** Where handshake failures and plain HTTP on the port are logged, at debug. */
  readonly logger?: Logger | undefined;
}

/** Node's limit on request headers, answered with 431; the fast path leaves larger heads to it. */
const MAX_HEADER_BYTES = 16 * 1024;

/** What the main listener hands requests to. */
export interface MainServerParts {
  readonly auth: Authenticator;
  readonly rest: RestHandler;
  readonly responder: Responder;
  /** The SSE routes (subscribe, psubscribe, monitor). */
  readonly streams: StreamHandler;
  /** The /ws endpoint. */
  readonly upgrades: UpgradeHandler;
  /** Reply-byte bounds per connection and per token (SLUICE_CLIENT_/TOKEN_MAX_PENDING_BYTES). */
  readonly flows: Flows;
  /** Per-token (or tenant) quotas, checked before a request is read further or queued. */
  readonly quotas: Quotas;
}

/**
 * The main listener. Plain REST requests take the fast path (fast-path.ts); node:http serves every other request, and
 * answers every refusal the entrance decides (routes, methods, authentication, draining). `drain()` makes it refuse
 * new requests with 503 and close keep-alive connections.
 */
export class MainServer implements FastHost {
  /** node:http's server, or node:https's when the listener speaks TLS (an http.Server too). */
  readonly server: Server;
  /** The TLS entry's counts and the secure context's reload, when the listener speaks TLS. */
  readonly tls: TlsEntry | undefined;
  readonly #fast: FastHttp;
  readonly #entrance: Entrance;
  readonly #rest: RestHandler;
  readonly #responder: Responder;
  readonly #clock: Clock;
  readonly #streams: StreamHandler;
  readonly #upgrades: UpgradeHandler;
  readonly #flows: Flows;
  readonly #quotas: Quotas;
  /** Responses not yet finished, so drain() can tell their clients not to reuse the connection. */
  readonly #open = new Set<ServerResponse>();

  constructor(parts: MainServerParts, options: MainServerOptions) {
    this.#entrance = new Entrance(parts.auth, options.basePath);
    this.#rest = parts.rest;
    this.#responder = parts.responder;
    this.#streams = parts.streams;
    this.#upgrades = parts.upgrades;
    this.#flows = parts.flows;
    this.#quotas = parts.quotas;
    this.#clock = options.clock ?? realClock;
    const httpOptions = {
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      // Node only checks headersTimeout/requestTimeout every connectionsCheckingInterval (30 s by default), so a
      // slowloris client outlived both limits by up to 30 s; check often enough to cut it off near the limit.
      connectionsCheckingInterval: Math.max(
        25,
        Math.min(1000, Math.floor(Math.min(options.headersTimeoutMs, options.requestTimeoutMs) / 4)),
      ),
      // Node answers oversized headers with 431 itself.
      maxHeaderSize: MAX_HEADER_BYTES,
    };
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#request(req, res);
    const tls = options.tls;
    if (tls) {
      const server = createHttpsServer(
        {
          ...httpOptions,
          ...tls.context,
          requestCert: tls.requireClientCertificate,
          rejectUnauthorized: tls.requireClientCertificate,
          // A handshake not done in the time a client has to send its headers is cut (node:tls's default: 120 s).
          handshakeTimeout: options.headersTimeoutMs,
        },
        handler,
      );
      this.tls = new TlsEntry(server, {
        firstByteTimeoutMs: options.headersTimeoutMs,
        syncToken: () => this.#responder.syncToken(),
        logger: tls.logger,
      });
      this.server = server;
    } else {
      this.tls = undefined;
      this.server = createServer(httpOptions, handler);
    }
    this.server.maxConnections = options.maxConnections;
    this.#fast = new FastHttp(this.server, this, {
      event: tls ? 'secureConnection' : 'connection',
      maxHeaderBytes: MAX_HEADER_BYTES,
      maxBodyBytes: options.maxBodyBytes,
      headersTimeoutMs: options.headersTimeoutMs,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
      clock: this.#clock,
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    // Without a 'connect' listener Node destroys a CONNECT request's socket without a word; answer it like any
    // other unsupported method.
    this.server.on('connect', (req: IncomingMessage, socket: Duplex) =>
      writeRawError(socket, methodRefusal(req.method), this.#responder.syncToken()),
    );
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return socket.destroy();
      const refusal =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? new SluiceError('SLUICE_ERR_HTTP_HEADERS_TOO_LARGE', 'ERR request headers are larger than 16 KiB')
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? new SluiceError(
                'SLUICE_ERR_HTTP_TIMEOUT',
                'ERR the request did not arrive in time (SLUICE_HTTP_REQUEST_TIMEOUT_MS)',
              )
            : new SluiceError(
                'SLUICE_ERR_HTTP_BAD_REQUEST',
                `ERR malformed HTTP request (${error.code ?? 'parse error'})`,
              );
      writeRawError(socket, refusal, this.#responder.syncToken());
    });
  }

  /**
   * Replaces the certificate, key and client CAs new handshakes use (a TLS listener only); open connections keep
   * theirs. Throws, keeping the current context, when `context` is not a valid one.
   */
  setSecureContext(context: SecureContextOptions): void {
    (this.server as unknown as HttpsServer).setSecureContext(context);
  }

  /** Stops taking requests: new ones get 503 SLUICE_ERR_DRAINING; idle keep-alive connections are closed. */
  drain(): void {
    this.#entrance.drain();
    // The last in-flight response of each connection goes out with `Connection: close`: a client that reused the
    // connection after it would have its next request cut by the final close (ECONNRESET: did it run?) instead of
    // a clean ECONNREFUSED. Only the last: requests pipelined before it already ran, and a client that saw
    // `close` on an earlier answer would drop the later ones and retry them.
    const lastOfConnection = new Map<unknown, ServerResponse>();
    for (const res of this.#open) lastOfConnection.set(res.req.socket, res);
    for (const res of lastOfConnection.values()) if (!res.headersSent) res.shouldKeepAlive = false;
    this.#fast.drain();
    this.server.close();
    this.server.closeIdleConnections();
  }

  /** Closes every client connection at once (the end of a drain). */
  closeAllConnections(): void {
    this.#fast.closeAll();
    this.server.closeAllConnections();
  }

  /**
   * The fast path's request: served when the entrance admits it to a REST route; otherwise it is left, with its
   * connection, to node:http's handler below, which answers every refusal.
   */
  serve(request: WireRequest, response: FastResponse): boolean {
    const admission = this.#entrance.admit(
      request.method,
      request.target,
      request.headers['authorization'],
      response.connection,
    );
    if (admission.refusal !== undefined || !isRestRoute(admission.route)) return false;
    const connection = response.connection;
    // Counted under the token of its first request: a connection that changes tokens keeps that count.
    connection.flow ??= this.#flows.client(admission.principal, connection.resumeReading);
    const flow = connection.flow;
    flow.started();
    // A single command counts against commands/s here; a pipeline's commands once its body is parsed.
    const route = admission.route;
    const quota = this.#quotas.enter(admission.principal, route === 'single' || route === 'path' ? 1 : 0);
    if (quota instanceof SluiceError) {
      this.#responder.error(response, route, quota);
      return true;
    }
    response.quota = quota;
    this.#rest.handle(
      {
        route: admission.route,
        principal: admission.principal,
        method: request.method,
        pathname: admission.pathname,
        query: admission.query,
        arrived: this.#clock.now(),
        headers: request.headers,
        body: request.body,
        onAbandon: (listener) => response.onAbandon(listener),
        largeReplies: flow.largeReplies,
        quota,
      },
      response,
    );
    return true;
  }

  /**
   * The fast path's upgrade request: taken when the entrance admits it; every refusal is left to node:http's
   * 'upgrade' handler below.
   */
  upgrade(request: WireRequest, head: Buffer, connection: CallerMemo, take: () => Socket): boolean {
    const admission = this.#entrance.admitUpgrade(
      request.target,
      request.headers['authorization'],
      connection,
    );
    if (admission instanceof SluiceError) return false;
    const { method, target: url, headers } = request;
    this.#upgrades.handleUpgrade({ method, url, headers }, take(), head, admission);
    return true;
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const arrived = this.#clock.now();
    this.#open.add(res);
    res.once('close', () => this.#open.delete(res));
    const method = req.method ?? 'GET';
    const admission = this.#entrance.admit(method, req.url ?? '/', req.headers.authorization);
    if (admission.refusal !== undefined) {
      if (admission.refusal.code !== 'SLUICE_ERR_DRAINING')
        return this.#responder.error(res, admission.route, admission.refusal);
      res.shouldKeepAlive = false;
      return this.#responder.error(res, admission.route, admission.refusal, ['Connection', 'close']);
    }
    const { route, pathname, query, principal } = admission;
    if (route === 'subscribe' || route === 'psubscribe' || route === 'monitor') {
      const stream = this.#quotas.openSocket(principal);
      if (stream instanceof SluiceError) return this.#responder.error(res, route, stream);
      res.once('close', () => stream.closeSocket());
      const name = route === 'monitor' ? '' : pathname.slice(route.length + 2);
      return this.#streams.handle(req, res, route, principal, name);
    }
    // Refused before its body is read: node:http discards the body of an answered request.
    const quota = this.#quotas.enter(principal, route === 'single' || route === 'path' ? 1 : 0);
    if (quota instanceof SluiceError) return this.#responder.error(res, route, quota);
    res.once('close', () => quota.leave());
    this.#rest.handle(
      {
        route,
        principal,
        method,
        pathname,
        query,
        arrived,
        headers: req.headers,
        body: req,
        onAbandon: (listener) =>
          res.once('close', () => {
            if (!res.writableFinished) listener();
          }),
        quota,
      },
      res,
    );
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const admission = this.#entrance.admitUpgrade(req.url ?? '/', req.headers.authorization);
    if (admission instanceof SluiceError)
      return writeRawError(socket, admission, this.#responder.syncToken());
    this.#upgrades.handleUpgrade(req, socket as Socket, head, admission);
  }
}
