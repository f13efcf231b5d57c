// The main listener: routing, methods, authentication and draining in front of the REST, SSE and WebSocket handlers.
import { performance } from 'node:perf_hooks';
import {
  STATUS_CODES,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Authenticator, Principal } from '../protocol/auth.js';
import type { HttpRoute, Responder } from './respond.js';
import { errorBody } from '../protocol/items.js';
import type { RestHandler } from './rest.js';
import { type FastCaller, FastHttp, type FastHost, type FastResponse } from './fast-path.js';
import type { WireRequest } from './wire-request.js';
import { badTargetError, originFormOf } from './request-target.js';
import { SluiceError } from '../errors.js';
import type { Flows } from '../exec/flow.js';

/** Serves one streaming route (SSE subscribe/psubscribe/monitor); provided by the pub/sub module. */
export interface StreamHandler {
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    route: 'subscribe' | 'psubscribe' | 'monitor',
    principal: Principal,
    name: string,
  ): void;
}

/** Request headers by lower-case name, as node:http and the fast path's reader both give them. */
export type UpgradeHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * What a WebSocket server reads of an upgrade request: node:http's IncomingMessage has these, and the fast path
 * builds just these from the request it already parsed.
 */
export interface UpgradeRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: UpgradeHeaders;
}

/** Accepts WebSocket upgrades on /ws; provided by the WebSocket module. */
export interface UpgradeHandler {
  handleUpgrade(
    request: UpgradeRequest,
    socket: Socket,
    head: Buffer,
    principal: Principal,
    query: string,
  ): void;
}

export interface MainServerOptions {
  /** SLUICE_BASE_PATH: '' or a prefix such as `/redis` that every route sits under. */
  readonly basePath: string;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  /** SLUICE_MAX_BODY_BYTES: larger bodies are node:http's to refuse with 413. */
  readonly maxBodyBytes: number;
}

/** Node's limit on request headers, answered with 431; the fast path leaves larger heads to it. */
const MAX_HEADER_BYTES = 16 * 1024;

const ALLOWED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT']);

/** The bearer token of a request: `Authorization: Bearer …`, else `?_token=`. */
export function tokenOf(header: string | undefined, query: string): string | undefined {
  if (header !== undefined) {
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return match ? match[1]!.trim() : undefined;
  }
  if (!query.includes('_token=')) return undefined;
  for (const part of query.split('&')) {
    if (part.startsWith('_token=')) {
      try {
        return decodeURIComponent(part.slice(7));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Writes a JSON error straight to a socket that has no ServerResponse (client errors, refused upgrades), then
 * closes it. `extraHead`: more header lines, each ending in CRLF.
 */
export function writeRawError(socket: Duplex, error: SluiceError, syncToken: string, extraHead = ''): void {
  const body = errorBody(error);
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nupstash-sync-token: ${syncToken}\r\n${extraHead}` +
      `Connection: close\r\n\r\n${body}`,
  );
}

/**
 * Splits a request target into path and query, with the base path removed (`/redis` and `/redis/` are the base
 * URL itself). Undefined when the target is not under the base path.
 */
export function splitTarget(url: string, basePath: string): { pathname: string; query: string } | undefined {
  let rest = url;
  if (basePath !== '') {
    if (!url.startsWith(basePath)) return undefined;
    rest = url.slice(basePath.length);
    if (rest === '' || rest.startsWith('?')) rest = '/' + rest;
    else if (!rest.startsWith('/')) return undefined;
  }
  const q = rest.indexOf('?');
  return q === -1 ? { pathname: rest, query: '' } : { pathname: rest.slice(0, q), query: rest.slice(q + 1) };
}

function routeOf(pathname: string): HttpRoute {
  switch (pathname) {
    case '/':
    case '':
      return 'single';
    case '/pipeline':
    case '/pipeline/':
      return 'pipeline';
    case '/multi-exec':
    case '/multi-exec/':
      return 'multi-exec';
    case '/monitor':
      return 'monitor';
    case '/ws':
      return 'ws';
  }
  if (pathname.startsWith('/subscribe/')) return 'subscribe';
  if (pathname.startsWith('/psubscribe/')) return 'psubscribe';
  return 'path';
}

/** Routes the REST handler serves, and whether they take POST only. */
const REST_ROUTES: Partial<Record<HttpRoute, { postOnly: boolean }>> = {
  single: { postOnly: false },
  path: { postOnly: false },
  pipeline: { postOnly: true },
  'multi-exec': { postOnly: true },
};

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
}

/**
 * The main listener. Plain REST requests take the fast path (fast-path.ts); node:http serves every other request, and
 * every refusal of the prelude (routes, methods, authentication, draining). `drain()` makes it refuse new requests
 * with 503 and close keep-alive connections.
 */
export class MainServer implements FastHost {
  readonly server: Server;
  readonly #fast: FastHttp;
  readonly #auth: Authenticator;
  readonly #rest: RestHandler;
  readonly #responder: Responder;
  readonly #basePath: string;
  readonly #streams: StreamHandler;
  readonly #upgrades: UpgradeHandler;
  readonly #flows: Flows;
  #draining = false;
  /** Responses not yet finished, so drain() can tell their clients not to reuse the connection. */
  readonly #open = new Set<ServerResponse>();

  constructor(parts: MainServerParts, options: MainServerOptions) {
    this.#auth = parts.auth;
    this.#rest = parts.rest;
    this.#responder = parts.responder;
    this.#streams = parts.streams;
    this.#upgrades = parts.upgrades;
    this.#flows = parts.flows;
    this.#basePath = options.basePath;
    this.server = createServer(
      {
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
      },
      (req, res) => this.#request(req, res),
    );
    this.server.maxConnections = options.maxConnections;
    this.#fast = new FastHttp(this.server, this, {
      maxHeaderBytes: MAX_HEADER_BYTES,
      maxBodyBytes: options.maxBodyBytes,
      headersTimeoutMs: options.headersTimeoutMs,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    // Without a 'connect' listener Node destroys a CONNECT request's socket without a word; answer it like any
    // other unsupported method.
    this.server.on('connect', (req: IncomingMessage, socket: Duplex) =>
      writeRawError(
        socket,
        new SluiceError(
          'SLUICE_ERR_HTTP_METHOD',
          `ERR method ${req.method} is not allowed; use GET, HEAD, POST or PUT`,
        ),
        this.#responder.syncToken(),
      ),
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

  /** Stops taking requests: new ones get 503 SLUICE_ERR_DRAINING; idle keep-alive connections are closed. */
  drain(): void {
    this.#draining = true;
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
   * The fast path's request: served when it is a REST route the caller may use; otherwise it is left, with its
   * connection, to node:http's handler below, which answers every refusal.
   */
  serve(request: WireRequest, response: FastResponse): boolean {
    if (this.#draining) return false;
    const target = splitTarget(request.target, this.#basePath);
    if (!target) return false;
    const { pathname, query } = target;
    const route = routeOf(pathname);
    const rest = REST_ROUTES[route];
    if (!rest || (rest.postOnly && request.method !== 'POST')) return false;
    const connection = response.connection;
    const principal = this.#identifyOn(connection, request.headers['authorization'], query);
    if (principal instanceof SluiceError) return false;
    // Counted under the token of its first request: a connection that changes tokens keeps that count.
    connection.flow ??= this.#flows.client(principal, connection.resumeReading);
    const flow = connection.flow;
    flow.started();
    this.#rest.handle(
      {
        route,
        principal,
        method: request.method,
        pathname,
        query,
        arrived: performance.now(),
        headers: request.headers,
        body: request.body,
        onAbandon: (listener) => response.onAbandon(listener),
        largeReplies: flow.largeReplies,
      },
      response,
    );
    return true;
  }

  /**
   * The fast path's upgrade request: taken when it is for /ws from a known caller while the broker runs; every
   * refusal is left to node:http's 'upgrade' handler below.
   */
  upgrade(request: WireRequest, head: Buffer, connection: FastCaller, take: () => Socket): boolean {
    if (this.#draining) return false;
    const target = splitTarget(request.target, this.#basePath);
    if (target?.pathname !== '/ws') return false;
    const principal = this.#identifyOn(connection, request.headers['authorization'], target.query);
    if (principal instanceof SluiceError) return false;
    const { method, target: url, headers } = request;
    this.#upgrades.handleUpgrade({ method, url, headers }, take(), head, principal, target.query);
    return true;
  }

  /**
   * Identifies the caller, reusing the answer for the Authorization header or token this connection sent last:
   * the same header is not parsed again, the same token not hashed again.
   */
  #identifyOn(
    connection: FastCaller,
    authorization: string | undefined,
    query: string,
  ): Principal | SluiceError {
    const known = connection.caller;
    if (known !== undefined && authorization !== undefined && authorization === known.authorization)
      return known.principal;
    const token = tokenOf(authorization, query);
    if (known !== undefined && token === known.token) return known.principal;
    const principal = this.#auth.identify(token);
    if (token !== undefined && !(principal instanceof SluiceError))
      connection.caller = { authorization, token, principal };
    return principal;
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const arrived = performance.now();
    this.#open.add(res);
    res.once('close', () => this.#open.delete(res));
    const url = req.url ?? '/';
    const origin = originFormOf(url);
    if (origin === undefined) return this.#responder.error(res, 'other', badTargetError(url));
    const target = splitTarget(origin, this.#basePath);
    if (!target) {
      return this.#responder.error(
        res,
        'other',
        new SluiceError(
          'SLUICE_ERR_HTTP_NOT_FOUND',
          `ERR every route is under ${this.#basePath} (SLUICE_BASE_PATH)`,
        ),
      );
    }
    const { pathname, query } = target;
    const route = routeOf(pathname);
    if (this.#draining) {
      res.shouldKeepAlive = false;
      return this.#responder.error(
        res,
        route,
        new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down; retry on another instance'),
        ['Connection', 'close'],
      );
    }
    const method = req.method ?? 'GET';
    const postOnly = route === 'pipeline' || route === 'multi-exec';
    if (!ALLOWED_METHODS.has(method) || (postOnly && method !== 'POST')) {
      return this.#responder.error(
        res,
        route,
        new SluiceError(
          'SLUICE_ERR_HTTP_METHOD',
          `ERR method ${method} is not allowed on ${postOnly ? pathname : 'this route'}; use ${postOnly ? 'POST' : 'GET, HEAD, POST or PUT'}`,
        ),
      );
    }
    const principal = this.#auth.identify(tokenOf(req.headers.authorization, query));
    if (principal instanceof SluiceError) return this.#responder.error(res, route, principal);
    if (route === 'subscribe' || route === 'psubscribe' || route === 'monitor') {
      const name = route === 'monitor' ? '' : pathname.slice(route.length + 2);
      return this.#streams.handle(req, res, route, principal, name);
    }
    if (route === 'ws') {
      return this.#responder.error(
        res,
        route,
        new SluiceError('SLUICE_ERR_HTTP_BAD_HEADER', 'ERR /ws expects a WebSocket upgrade request'),
      );
    }
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
      },
      res,
    );
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (error: SluiceError) => writeRawError(socket, error, this.#responder.syncToken());
    const url = req.url ?? '/';
    const origin = originFormOf(url);
    if (origin === undefined) return refuse(badTargetError(url));
    const { pathname, query } = splitTarget(origin, this.#basePath) ?? { pathname: '', query: '' };
    if (this.#draining)
      return refuse(new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down'));
    if (pathname !== '/ws')
      return refuse(
        new SluiceError(
          'SLUICE_ERR_HTTP_NOT_FOUND',
          `ERR no WebSocket endpoint at ${JSON.stringify(pathname)}; use /ws`,
        ),
      );
    const principal = this.#auth.identify(tokenOf(req.headers.authorization, query));
    if (principal instanceof SluiceError) return refuse(principal);
    this.#upgrades.handleUpgrade(req, socket as Socket, head, principal, query);
  }
}
