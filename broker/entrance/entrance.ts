// Who may do what at the HTTP entrance (target, base path, route, method, caller, draining), decided in one place
// for the fast path, node:http and WebSocket upgrades alike; the transports only carry the answer out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator, Principal } from '../protocol/auth.js';
import { SluiceError } from '../errors.js';
import { badTargetError, originFormOf, underBasePath } from './request-target.js';

/** The known routes, used as bounded metric labels. */
export type HttpRoute =
  | 'single'
  | 'pipeline'
  | 'multi-exec'
  | 'path'
  | 'subscribe'
  | 'psubscribe'
  | 'monitor'
  | 'ws'
  | 'other';

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

/**
 * What a connection may remember about its caller: the token it sent last (and the Authorization header it came
 * in) and who that is, so that a keep-alive connection is not identified again (a SHA-256 per request) while it
 * sends the same token. The fast path keeps one per connection.
 */
export interface CallerMemo {
  caller:
    | {
        readonly authorization: string | undefined;
        readonly token: string;
        readonly principal: Principal;
        /** The Authenticator's generation it was identified in: a reload of the tokens makes it stale. */
        readonly generation: number;
      }
    | undefined;
}

/** A request the caller may make: its route, its path and query under the base path, and who the caller is. */
export interface Admitted {
  readonly refusal?: undefined;
  readonly route: HttpRoute;
  readonly pathname: string;
  readonly query: string;
  readonly principal: Principal;
}

/** A request refused at the entrance, with the route it counts under ('other' when it has none). */
export interface Refused {
  readonly refusal: SluiceError;
  readonly route: HttpRoute;
}

/** A WebSocket upgrade the caller may make, with the query it came with (its options). */
export interface AdmittedUpgrade {
  readonly principal: Principal;
  readonly query: string;
}

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

/** Whether the REST handler serves the route (the others stream, upgrade, or are not found). */
export function isRestRoute(route: HttpRoute): boolean {
  return route === 'single' || route === 'path' || route === 'pipeline' || route === 'multi-exec';
}

/** The refusal of a method the broker does not take (any but GET, HEAD, POST and PUT; CONNECT included). */
export function methodRefusal(method: string | undefined): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_HTTP_METHOD',
    `ERR method ${method} is not allowed; use GET, HEAD, POST or PUT`,
  );
}

/**
 * Decides, for every request however it was read, whether it may proceed and as whom. Its answers depend only on
 * the request, the tokens and whether the broker drains, so the fast path (which serves what is admitted and
 * leaves the rest) and node:http (which answers the refusals) cannot disagree.
 */
export class Entrance {
  readonly #auth: Authenticator;
  readonly #basePath: string;
  #draining = false;

  /** `basePath`: SLUICE_BASE_PATH, '' or a prefix such as `/redis` that every route sits under. */
  constructor(auth: Authenticator, basePath: string) {
    this.#auth = auth;
    this.#basePath = basePath;
  }

  /** From now on every request and upgrade is refused with SLUICE_ERR_DRAINING. */
  drain(): void {
    this.#draining = true;
  }

  /**
   * Admits a request or says why not, in this order: its target (origin-form or absolute-form), under the base path,
   * draining, its method on the route, its caller, and /ws wanting an upgrade. `memo`: the connection's remembered
   * caller, when it keeps one. Allocates only the answer on the way to an admission.
   */
  admit(
    method: string,
    target: string,
    authorization: string | undefined,
    memo?: CallerMemo,
  ): Admitted | Refused {
    const origin = originFormOf(target);
    if (origin === undefined) return { refusal: badTargetError(target), route: 'other' };
    const relative = underBasePath(origin, this.#basePath);
    if (relative === undefined) {
      return {
        refusal: new SluiceError(
          'SLUICE_ERR_HTTP_NOT_FOUND',
          `ERR every route is under ${this.#basePath} (SLUICE_BASE_PATH)`,
        ),
        route: 'other',
      };
    }
    const q = relative.indexOf('?');
    const pathname = q === -1 ? relative : relative.slice(0, q);
    const query = q === -1 ? '' : relative.slice(q + 1);
    const route = routeOf(pathname);
    if (this.#draining) {
      return {
        refusal: new SluiceError(
          'SLUICE_ERR_DRAINING',
          'ERR the broker is shutting down; retry on another instance',
        ),
        route,
      };
    }
    const postOnly = route === 'pipeline' || route === 'multi-exec';
    if (postOnly ? method !== 'POST' : !isAllowedMethod(method)) {
      return {
        refusal: new SluiceError(
          'SLUICE_ERR_HTTP_METHOD',
          `ERR method ${method} is not allowed on ${postOnly ? pathname : 'this route'}; use ${postOnly ? 'POST' : 'GET, HEAD, POST or PUT'}`,
        ),
        route,
      };
    }
    const principal = this.#identify(authorization, query, memo);
    if (principal instanceof SluiceError) return { refusal: principal, route };
    if (route === 'ws') {
      return {
        refusal: new SluiceError('SLUICE_ERR_HTTP_BAD_HEADER', 'ERR /ws expects a WebSocket upgrade request'),
        route,
      };
    }
    return { route, pathname, query, principal };
  }

  /**
   * Admits a WebSocket upgrade or says why not: its target, draining, the /ws path under the base path, its
   * caller. What the upgrade headers must say is the WebSocket endpoint's to check (ws/upgrade-request.ts).
   */
  admitUpgrade(
    target: string,
    authorization: string | undefined,
    memo?: CallerMemo,
  ): AdmittedUpgrade | SluiceError {
    const origin = originFormOf(target);
    if (origin === undefined) return badTargetError(target);
    const relative = underBasePath(origin, this.#basePath) ?? '';
    const q = relative.indexOf('?');
    const pathname = q === -1 ? relative : relative.slice(0, q);
    const query = q === -1 ? '' : relative.slice(q + 1);
    if (this.#draining) return new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down');
    if (pathname !== '/ws') {
      return new SluiceError(
        'SLUICE_ERR_HTTP_NOT_FOUND',
        `ERR no WebSocket endpoint at ${JSON.stringify(pathname)}; use /ws`,
      );
    }
    const principal = this.#identify(authorization, query, memo);
    return principal instanceof SluiceError ? principal : { principal, query };
  }

  /**
   * Identifies the caller; with a memo, reuses the answer for the Authorization header or token the connection sent
   * last: the same header is not parsed again, the same token not hashed again.
   */
  #identify(
    authorization: string | undefined,
    query: string,
    memo: CallerMemo | undefined,
  ): Principal | SluiceError {
    if (memo === undefined) return this.#auth.identify(tokenOf(authorization, query));
    const generation = this.#auth.generation;
    const known = memo.caller?.generation === generation ? memo.caller : undefined;
    if (known !== undefined && authorization !== undefined && authorization === known.authorization)
      return known.principal;
    const token = tokenOf(authorization, query);
    if (known !== undefined && token === known.token) return known.principal;
    const principal = this.#auth.identify(token);
    if (token !== undefined && !(principal instanceof SluiceError))
      memo.caller = { authorization, token, principal, generation };
    return principal;
  }
}

/** GET, HEAD, POST and PUT: compared rather than looked up, as this runs for every request. */
function isAllowedMethod(method: string): boolean {
  return method === 'POST' || method === 'GET' || method === 'PUT' || method === 'HEAD';
}
