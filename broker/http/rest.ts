// The Upstash REST API: POST / (one command), /pipeline, /multi-exec and path style, with Upstash's encodings.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Principal } from '../protocol/auth.js';
import { SluiceError } from '../errors.js';
import type { BackendOf } from '../exec/backend.js';
import type { Logger } from '../log.js';
import type { Outcome, RequestTiming } from '../redis/outcome.js';
import type { CommandPreparer, PreparedCommand } from '../protocol/prepare.js';
import { replyJson, replyResp2 } from '../protocol/reply.js';
import { type Arg, parseCommandBody, parseCommandList, parseJson } from '../protocol/request.js';
import { pathCommand } from './path-style.js';
import type { Responder, ResponseSink } from '../entrance/respond.js';
import type { HttpRoute } from '../entrance/entrance.js';
import { itemsJson } from '../protocol/items.js';
import { preparePipeline, prepareTransaction, sharedFailure } from '../protocol/batch.js';
import type { QuotaAccount, Quotas } from '../entrance/quotas.js';
import type { SyncTokens } from '../protocol/sync-token.js';
import type { RequestSync, SyncPosition } from '../redis/replication.js';

/** How replies are written for one request. */
interface Format {
  readonly base64: boolean;
  readonly resp2: boolean;
}

/** One REST request whose route and caller are known, from node:http or the fast path. */
export interface RestRequest {
  readonly route: HttpRoute;
  readonly principal: Principal;
  readonly method: string;
  readonly pathname: string;
  readonly query: string;
  /** When it arrived (the broker's clock): the origin of Sluice-Deadline-Ms. */
  readonly arrived: number;
  /** Header values by lower-case name. */
  readonly headers: Readonly<IncomingHttpHeaders>;
  /** The body, or node:http's request to read it from once the headers were checked. */
  readonly body: Buffer | IncomingMessage;
  /** Calls `listener` if the caller goes away before its answer was sent (callable unbound). */
  readonly onAbandon: (listener: () => void) => void;
  /** Whether its client's answers are expected to be large (see RequestTiming.largeReplies); false when unknown. */
  readonly largeReplies?: boolean;
  /** The caller's quota account, the request admitted on it (its commands are counted once parsed). */
  readonly quota?: QuotaAccount | undefined;
}

/** What the REST handler needs from the broker. */
export interface RestDeps {
  readonly preparer: CommandPreparer;
  /** Where a caller's requests run: the broker's own Redis, or its tenant's. */
  readonly backends: BackendOf;
  readonly responder: Responder;
  /** Reads the request's `upstash-sync-token` and says where its answer leaves the caller (issue 20). */
  readonly tokens: SyncTokens;
  readonly maxBodyBytes: number;
  readonly maxPipelineCommands: number;
  /** Counts the commands of a /pipeline or /multi-exec against commands/s; none when undefined. */
  readonly quotas?: Quotas | undefined;
}

/** Reads the request headers that choose the reply format and deadline; throws a 400 on bad values. */
export function readFormat(headers: Readonly<IncomingHttpHeaders>): Format {
  const encoding = headers['upstash-encoding'];
  const base64 = typeof encoding === 'string' && encoding.toLowerCase() === 'base64';
  // Upstash's own curl sample misspells the header; accepting both is harmless.
  const format = headers['upstash-response-format'] ?? headers['upstash-reponse-format'];
  let resp2 = false;
  if (format !== undefined) {
    const value = String(format).toLowerCase();
    if (value === 'resp2') resp2 = true;
    else if (value !== 'json') {
      throw new SluiceError(
        'SLUICE_ERR_HTTP_BAD_HEADER',
        `ERR Upstash-Response-Format: expected json or resp2, got ${JSON.stringify(String(format))}`,
      );
    }
  }
  if (resp2 && base64) {
    throw new SluiceError(
      'SLUICE_ERR_HTTP_BAD_HEADER',
      'ERR Upstash-Response-Format: resp2 cannot be combined with Upstash-Encoding: base64',
    );
  }
  return { base64, resp2 };
}

/**
 * The request's timing: its deadline, now + `Sluice-Deadline-Ms` when given, else none (the timeouts still
 * apply), and the caller's `onAbandon`, so that it leaves the admission queue if the caller goes away.
 */
export function readTiming(
  headers: Readonly<IncomingHttpHeaders>,
  arrived: number,
  onAbandon?: (listener: () => void) => void,
  largeReplies = false,
  sync?: RequestSync,
): RequestTiming {
  const header = headers['sluice-deadline-ms'];
  if (header === undefined) return { deadline: Number.POSITIVE_INFINITY, onAbandon, largeReplies, sync };
  const text = String(header);
  if (!/^\d{1,9}$/.test(text) || Number(text) === 0) {
    throw new SluiceError(
      'SLUICE_ERR_HTTP_BAD_HEADER',
      `ERR Sluice-Deadline-Ms: expected a positive whole number of milliseconds, got ${JSON.stringify(text)}`,
    );
  }
  return { deadline: arrived + Number(text), onAbandon, largeReplies, sync };
}

/**
 * Reads the body up to `max` bytes; beyond it, keeps draining (never resets the upload) and throws a 413. The body is
 * held in one buffer whatever the reads it arrives in: a body sent one byte per TCP write once made the broker hold
 * a Buffer object per byte (~10 million for SLUICE_MAX_BODY_BYTES; issue 18). A body read in one chunk is not
 * copied; otherwise the buffer is sized by Content-Length, or grows by doubling, never past `max`.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let held: Buffer | undefined;
    /** Whether `held` is ours to write into (not the first chunk as it came). */
    let owned = false;
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      const at = size;
      size += chunk.length;
      if (size > max) {
        held = undefined;
        return;
      }
      if (at === 0) {
        held = chunk;
        return;
      }
      if (!owned || held!.length < size) {
        const declared = Number(req.headers['content-length']);
        const wanted = declared >= size && declared <= max ? declared : Math.max(size, 2 * held!.length);
        const grown = Buffer.allocUnsafe(Math.min(max, wanted));
        held!.copy(grown, 0, 0, at);
        held = grown;
        owned = true;
      }
      chunk.copy(held!, at);
    });
    req.on('end', () => {
      if (size > max) {
        reject(
          new SluiceError(
            'SLUICE_ERR_HTTP_BODY_TOO_LARGE',
            `ERR max request size exceeded: the body has ${size} bytes, the limit is ${max} (SLUICE_MAX_BODY_BYTES)`,
          ),
        );
      } else resolve(held === undefined ? Buffer.alloc(0) : held.subarray(0, size));
    });
    req.on('error', reject);
  });
}

/**
 * The timing to run `items` with: when one of them blocks, it gains a signal that fires if the caller goes away
 * before its answer was sent, so its blocking connection is freed at once. Other requests skip the cost.
 */
function withCallerSignal(
  req: RestRequest,
  items: readonly (PreparedCommand | SluiceError)[],
  timing: RequestTiming,
): RequestTiming {
  for (const item of items) {
    if (item instanceof SluiceError || item.route !== 'blocking') continue;
    const controller = new AbortController();
    req.onAbandon(() => controller.abort());
    return { deadline: timing.deadline, signal: controller.signal, sync: timing.sync };
  }
  return timing;
}

/**
 * Serves the REST routes. One instance per broker. Callbacks rather than promises from the request to its answer:
 * a request the fast path read whole runs without a promise or a microtask.
 */
export class RestHandler {
  readonly #deps: RestDeps;
  readonly #logger: Logger;

  constructor(deps: RestDeps, logger: Logger) {
    this.#deps = deps;
    this.#logger = logger;
  }

  /** Runs a request. Never throws; every failure is a JSON response. */
  handle(req: RestRequest, res: ResponseSink): void {
    let format: Format;
    let timing: RequestTiming;
    const sync = this.#deps.tokens.begin(req.headers['upstash-sync-token'], req.principal);
    try {
      format = readFormat(req.headers);
      timing = readTiming(req.headers, req.arrived, req.onAbandon, req.largeReplies, sync);
    } catch (error) {
      return this.#fail(res, req.route, error, sync?.floor);
    }
    if (Buffer.isBuffer(req.body)) return this.#run(req, res, req.body, format, timing);
    readBody(req.body, this.#deps.maxBodyBytes).then(
      (body) => this.#run(req, res, body, format, timing),
      (error: unknown) => this.#fail(res, req.route, error, sync?.floor),
    );
  }

  /** Parses the body and starts the request; the executor's callback writes the answer. */
  #run(req: RestRequest, res: ResponseSink, body: Buffer, format: Format, timing: RequestTiming): void {
    const { route, pathname, query } = req;
    const { preparer, tokens } = this.#deps;
    const executor = this.#deps.backends(req.principal.tenant).requests;
    const sync = timing.sync;
    const floor = sync?.floor;
    try {
      switch (route) {
        case 'single':
        case 'path': {
          const argv =
            route === 'single'
              ? this.#singleCommand(req, body)
              : pathCommand(
                  pathname,
                  query,
                  req.method === 'POST' || req.method === 'PUT' ? body : undefined,
                );
          const prepared = preparer.prepare(argv, req.principal);
          if (prepared instanceof SluiceError) return this.#fail(res, route, prepared, floor);
          const items = [prepared];
          return executor.pipeline(items, withCallerSignal(req, items, timing), undefined, (outcomes) => {
            const at = tokens.end(sync, req.principal);
            this.#answer(res, route, at, () => this.#single(res, route, outcomes[0]!, format, at));
          });
        }
        case 'pipeline': {
          const items = preparePipeline(preparer, this.#commandList(req, body), req.principal);
          return executor.pipeline(items, withCallerSignal(req, items, timing), undefined, (outcomes) => {
            const at = tokens.end(sync, req.principal);
            this.#answer(res, route, at, () => this.#pipeline(res, outcomes, format, at));
          });
        }
        case 'multi-exec': {
          const prepared = prepareTransaction(preparer, this.#commandList(req, body), req.principal);
          if (prepared instanceof SluiceError) return this.#fail(res, route, prepared, floor);
          return executor.transaction(prepared, timing, undefined, (outcome) => {
            const at = tokens.end(sync, req.principal);
            this.#answer(res, route, at, () => this.#transaction(res, outcome, format, at));
          });
        }
        default:
          throw new SluiceError('SLUICE_ERR_HTTP_NOT_FOUND', `ERR no route ${JSON.stringify(pathname)}`);
      }
    } catch (error) {
      this.#fail(res, route, error, floor);
    }
  }

  #singleCommand(req: RestRequest, body: Buffer): Arg[] {
    if (body.length === 0) {
      throw new SluiceError(
        'SLUICE_ERR_REQUEST_BAD_COMMAND',
        `ERR ${req.method} / expects a command as a JSON array in the body, such as ["GET","key"]`,
      );
    }
    return parseCommandBody(body.toString('utf8'));
  }

  /** The commands of a /pipeline or /multi-exec body, counted against the caller's commands/s (throws when over). */
  #commandList(req: RestRequest, body: Buffer): Arg[][] {
    const list = parseCommandList(parseJson(body.toString('utf8')), this.#deps.maxPipelineCommands);
    const { quotas } = this.#deps;
    if (quotas && req.quota) {
      const refusal = quotas.commands(req.principal, req.quota, list.length);
      if (refusal) throw refusal;
    }
    return list;
  }

  /** Writes an answer; a failure while encoding it is logged and answered as an internal error. */
  #answer(res: ResponseSink, route: HttpRoute, at: SyncPosition | undefined, write: () => void): void {
    try {
      write();
    } catch (error) {
      this.#logger.error({ err: error }, 'unexpected error in the REST handler');
      this.#deps.responder.error(
        res,
        route,
        new SluiceError('SLUICE_ERR_INTERNAL', 'ERR internal error'),
        undefined,
        at,
      );
    }
  }

  /** Answers with an error; `at` keeps the caller's position in the token (a refusal must not make it forget). */
  #fail(res: ResponseSink, route: HttpRoute, error: unknown, at: SyncPosition | undefined): void {
    this.#deps.responder.error(
      res,
      route,
      error instanceof Error ? error : new Error(String(error)),
      undefined,
      at,
    );
  }

  #single(res: ResponseSink, route: HttpRoute, outcome: Outcome, format: Format, at?: SyncPosition): void {
    const { responder } = this.#deps;
    if (outcome instanceof Error) return responder.error(res, route, outcome, undefined, at);
    if (format.resp2)
      return responder.send(res, route, 200, replyResp2(outcome), undefined, 'application/octet-stream', at);
    responder.send(
      res,
      route,
      200,
      `{"result":${replyJson(outcome, format.base64)}}`,
      undefined,
      undefined,
      at,
    );
  }

  #pipeline(res: ResponseSink, outcomes: Outcome[], format: Format, at?: SyncPosition): void {
    const { responder } = this.#deps;
    const shared = sharedFailure(outcomes);
    if (shared) return responder.error(res, 'pipeline', shared, undefined, at);
    if (format.resp2) {
      return responder.send(
        res,
        'pipeline',
        200,
        Buffer.concat(outcomes.map((o) => replyResp2(o))),
        undefined,
        'application/octet-stream',
        at,
      );
    }
    responder.send(res, 'pipeline', 200, itemsJson(outcomes, format.base64), undefined, undefined, at);
  }

  #transaction(res: ResponseSink, outcome: Outcome[] | Error, format: Format, at?: SyncPosition): void {
    const { responder } = this.#deps;
    if (outcome instanceof Error) return responder.error(res, 'multi-exec', outcome, undefined, at);
    responder.send(res, 'multi-exec', 200, itemsJson(outcome, format.base64), undefined, undefined, at);
  }
}
