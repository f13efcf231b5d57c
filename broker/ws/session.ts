// One WebSocket's state: its requests in flight, its pinned pool connection, its subscriptions and its send buffer.
import type { SyncTokens } from '../protocol/sync-token.js';
import type { Clock } from '../clock.js';
import { type Principal, noPermission } from '../protocol/auth.js';
import { SluiceError } from '../errors.js';
import type { Affinity } from '../exec/request-runner.js';
import type { Backend, BackendOf } from '../exec/backend.js';
import type { RequestTiming } from '../redis/outcome.js';
import type { ClientFlow, Flows } from '../exec/flow.js';
import type { Logger } from '../log.js';
import type { CommandPreparer } from '../protocol/prepare.js';
import type { PubSubListener, PubSubMessage } from '../pubsub/types.js';
import {
  type CommandRequest,
  countsFrame,
  errorFrame,
  parseFrame,
  pushFrame,
  resultFrame,
  resultsFrame,
  type SubscriptionRequest,
} from './ws-messages.js';
import type { WsConnection } from './ws-socket.js';
import { closeCodeOf, closeReason } from './close.js';
import { preparePipeline, prepareTransaction, sharedFailure } from '../protocol/batch.js';
import type { QuotaAccount, Quotas } from '../entrance/quotas.js';

/** What a session needs from the broker; shared by every session of a server. */
export interface SessionDeps {
  readonly preparer: CommandPreparer;
  /** Where a caller's requests and subscriptions run: the broker's own Redis, or its tenant's. */
  readonly backends: BackendOf;
  readonly logger: Logger;
  /** SLUICE_MAX_PIPELINE_COMMANDS. */
  readonly maxPipelineCommands: number;
  /** SLUICE_WS_MAX_INFLIGHT: requests unanswered per socket. */
  readonly maxInflight: number;
  /** SLUICE_WS_SEND_BUFFER_BYTES: bytes waiting to be sent before the socket is cut off. */
  readonly sendBufferBytes: number;
  /** Frame totals of the whole server, for metrics. */
  readonly frames: { in: number; out: number };
  /** Called when a socket hits a limit (in-flight, send buffer). */
  limitHit(): void;
  /** Reply-byte bounds per socket and per token (SLUICE_CLIENT_/TOKEN_MAX_PENDING_BYTES); none when undefined. */
  readonly flows: Flows | undefined;
  /** Where request deadlines are read from: the executor's clock. */
  readonly clock: Clock;
  /** Per-token (or tenant) quotas: each request is checked before it counts as in flight; none when undefined. */
  readonly quotas?: Quotas | undefined;
  /**
   * Sync positions (read regions): a request starts from its auth token's floor and raises it with its writes
   * (the socket's own order is kept by the runner, see region-router.ts).
   */
  readonly tokens?: SyncTokens | undefined;
}

/** Bytes waiting to be sent from which the session asks to hear when they are gone (its token's count needs it). */
const WATCHED_BYTES = 64 * 1024;

/** One open WebSocket. The server feeds it frames; it answers on its own socket only. */
export class Session implements PubSubListener {
  /** Cleared by each heartbeat ping, set again by the pong. */
  alive = true;
  readonly #ws: WsConnection;
  #principal: Principal;
  /** Runs this socket's requests and subscriptions (its token's tenant). */
  readonly #backend: Backend;
  readonly #base64: boolean;
  readonly #deps: SessionDeps;
  readonly #connId: number;
  /** Every request of this socket goes to one pool connection, so its commands run in the order sent. */
  readonly #affinity: Affinity = { connection: undefined, unsettled: 0 };
  #inflight = 0;
  #closing = false;
  #draining = false;
  readonly #channels = new Set<string>();
  readonly #patterns = new Set<string>();
  /** Subscribe requests not yet acknowledged; pushes wait behind them so the ack always comes first. */
  #acking = 0;
  #held: string[] = [];
  #heldBytes = 0;
  /** This socket's reply bytes; command requests wait in #waiting while it is over its bounds. */
  readonly #flow: ClientFlow | undefined;
  /** Command requests received while over the bounds, in order; the socket is paused while any wait. */
  #waiting: CommandRequest[] = [];
  /** The token's (or tenant's) quota account: every request of this socket is in flight on it until answered. */
  readonly #quota: QuotaAccount | undefined;

  constructor(ws: WsConnection, principal: Principal, base64: boolean, deps: SessionDeps, connId: number) {
    this.#ws = ws;
    this.#principal = principal;
    this.#backend = deps.backends(principal.tenant);
    this.#base64 = base64;
    this.#deps = deps;
    this.#connId = connId;
    this.#flow = deps.flows?.client(principal, this.#startWaiting, true);
    this.#quota = deps.quotas?.account(principal);
  }

  /** Who the socket's token is (it may change on a reload of the tokens file). */
  get principal(): Principal {
    return this.#principal;
  }

  /**
   * The tokens file was reloaded: the token is gone or moved to another tenant (`undefined`: the socket closes with
   * 4001 `token revoked`), or it now has other rights (they apply to the socket's next requests).
   */
  revise(principal: Principal | undefined): void {
    if (principal) this.#principal = principal;
    else this.#fail(new SluiceError('SLUICE_ERR_AUTH_REVOKED', 'ERR token revoked'));
  }

  /** Requests received and not yet answered. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Whether this socket is closing or closed (it takes no more requests and sends nothing more). */
  get closing(): boolean {
    return this.#closing;
  }

  /** Handles one frame. Never throws. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.#closing) return;
    if (isBinary) {
      return this.#fail(
        new SluiceError(
          'SLUICE_ERR_WS_BINARY_FRAME',
          'ERR expected text frames holding JSON, got a binary frame',
        ),
      );
    }
    const frame = parseFrame(data.toString('utf8'), this.#deps.maxPipelineCommands);
    switch (frame.kind) {
      case 'fatal':
        return this.#fail(frame.error);
      case 'refused':
        return this.#send(errorFrame(frame.idJson, frame.error));
    }
    if (this.#draining) {
      return this.#send(
        errorFrame(
          frame.idJson,
          new SluiceError(
            'SLUICE_ERR_DRAINING',
            'ERR the broker is shutting down; retry on another instance',
          ),
        ),
      );
    }
    if (this.#inflight >= this.#deps.maxInflight) {
      this.#deps.limitHit();
      return this.#send(
        errorFrame(
          frame.idJson,
          new SluiceError(
            'SLUICE_ERR_WS_MAX_INFLIGHT',
            `ERR ${this.#inflight} requests of this socket are unanswered (SLUICE_WS_MAX_INFLIGHT=${this.#deps.maxInflight}); this one was not run`,
          ),
        ),
      );
    }
    if (this.#quota !== undefined) {
      const commands = frame.kind === 'commands' ? frame.commands.length : 0;
      const refusal = this.#deps.quotas!.enter(this.#principal, commands, this.#quota);
      if (refusal instanceof SluiceError) return this.#send(errorFrame(frame.idJson, refusal));
    }
    this.#inflight++;
    if (frame.kind !== 'commands') return this.#subscription(frame);
    // Requests start in order while the replies they may bring fit the bounds; the others wait with the socket
    // paused, so that TCP slows the peer down instead of the broker queueing its replies.
    if (this.#waiting.length === 0 && this.#mayStart()) return this.#commands(frame);
    if (this.#waiting.length === 0) this.#ws.pause();
    this.#waiting.push(frame);
  }

  #mayStart(): boolean {
    return this.#flow?.mayStart(this.#ws.bufferedAmount) ?? true;
  }

  /** Starts the waiting requests the bounds allow now; reads the socket again once none waits. */
  readonly #startWaiting = (): void => {
    const waiting = this.#waiting;
    if (waiting.length === 0 || this.#closing) return;
    while (waiting.length > 0 && this.#mayStart()) this.#commands(waiting.shift()!);
    if (waiting.length === 0) this.#ws.resume();
  };

  /** Closes the socket with `code` and a reason; ws destroys it if the peer does not finish the close in time. */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#dropHeld();
    this.#ws.close(code, reason);
  }

  /** Drops the socket at once, without a close frame (dead peer). */
  terminate(): void {
    this.#closing = true;
    this.#ws.terminate();
  }

  /** Sends a heartbeat ping; the pong sets `alive` again. */
  ping(): void {
    this.#ws.ping();
  }

  /** The broker drains: answer what is in flight, refuse new requests, then close with 1001. */
  drain(): void {
    this.#draining = true;
    if (this.#inflight === 0) this.#closeDraining();
  }

  /** The socket closed (either side): release subscriptions and timers. */
  ended(): void {
    this.#closing = true;
    this.#dropHeld();
    // Requests that waited for room will never run: they leave the token's in-flight count now.
    if (this.#quota !== undefined) for (let i = 0; i < this.#waiting.length; i++) this.#quota.leave();
    this.#waiting = [];
    this.#flow?.close();
    if (this.#channels.size + this.#patterns.size > 0) {
      this.#channels.clear();
      this.#patterns.clear();
      this.#backend.hub.unsubscribeAll(this);
    }
  }

  /** PubSubListener: a message on a name this socket subscribed to. */
  deliver(message: PubSubMessage): void {
    if (this.#closing) return;
    const text = pushFrame(message, this.#base64);
    if (this.#acking === 0) return this.#send(text);
    this.#held.push(text);
    this.#heldBytes += text.length;
    if (this.#heldBytes > this.#deps.sendBufferBytes) this.#slowReader(this.#heldBytes);
  }

  /** PubSubListener: the shared subscriber dropped this socket. */
  closed(reason: Error): void {
    this.#channels.clear();
    this.#patterns.clear();
    // The hub drains with the broker: still answer what is in flight, then close with 1001.
    if (reason instanceof SluiceError && reason.code === 'SLUICE_ERR_DRAINING') return this.drain();
    const error =
      reason instanceof SluiceError
        ? reason
        : new SluiceError('SLUICE_ERR_INTERNAL', `ERR the subscriptions ended: ${reason.message}`);
    this.#fail(error);
  }

  #commands(request: CommandRequest): void {
    const flow = this.#flow;
    flow?.started();
    const { preparer, tokens } = this.#deps;
    const executor = this.#backend.requests;
    const { idJson } = request;
    const sync = tokens?.begin(undefined, this.#principal);
    const timing: RequestTiming = {
      deadline:
        request.deadlineMs === undefined
          ? Number.POSITIVE_INFINITY
          : this.#deps.clock.now() + request.deadlineMs,
      largeReplies: flow?.largeReplies === true,
      sync,
    };
    if (request.op === 'multi') {
      const prepared = prepareTransaction(preparer, request.commands, this.#principal);
      if (prepared instanceof SluiceError) return this.#answerCommand(errorFrame(idJson, prepared));
      executor.transaction(prepared, timing, this.#affinity, (outcome) => {
        tokens?.end(sync, this.#principal);
        this.#answerCommand(
          outcome instanceof Error
            ? errorFrame(idJson, outcome)
            : resultsFrame(idJson, outcome, this.#base64),
        );
      });
      return;
    }
    const items = preparePipeline(preparer, request.commands, this.#principal);
    executor.pipeline(items, timing, this.#affinity, (outcomes) => {
      tokens?.end(sync, this.#principal);
      if (request.op === 'cmd') {
        const outcome = outcomes[0]!;
        return this.#answerCommand(
          outcome instanceof Error ? errorFrame(idJson, outcome) : resultFrame(idJson, outcome, this.#base64),
        );
      }
      const shared = sharedFailure(outcomes);
      this.#answerCommand(shared ? errorFrame(idJson, shared) : resultsFrame(idJson, outcomes, this.#base64));
    });
  }

  /** Sends the answer of a command request, then starts the requests that waited for room. */
  #answerCommand(text: string): void {
    this.#flow?.answered(text.length);
    this.#answer(text);
    if (this.#waiting.length > 0) this.#startWaiting();
  }

  #subscription(request: SubscriptionRequest): void {
    const { idJson, op, subscriptionKind: kind } = request;
    const hub = this.#backend.hub;
    // Every right may listen (read-only tokens included); a token's own allow/deny lists still apply.
    const { allow, deny } = this.#principal;
    if (deny?.has(op) || (allow && !allow.has(op))) return this.#answer(errorFrame(idJson, noPermission(op)));
    const names = kind === 'channel' ? this.#channels : this.#patterns;
    const counts: number[] = [];
    if (op === 'unsubscribe' || op === 'punsubscribe') {
      const leaving = request.names.length > 0 ? request.names : [...names];
      for (const name of leaving) {
        if (names.delete(name)) hub.unsubscribe(kind, Buffer.from(name), this);
        counts.push(this.#channels.size + this.#patterns.size);
      }
      if (counts.length === 0) counts.push(this.#channels.size + this.#patterns.size);
      return this.#answer(countsFrame(idJson, counts));
    }
    const added: string[] = [];
    const confirmations: Promise<void>[] = [];
    for (const name of request.names) {
      if (!names.has(name)) {
        names.add(name);
        added.push(name);
        confirmations.push(hub.subscribe(kind, Buffer.from(name), this));
      }
      counts.push(this.#channels.size + this.#patterns.size);
    }
    this.#acking++;
    Promise.all(confirmations).then(
      () => this.#acknowledged(countsFrame(idJson, counts)),
      (error: unknown) => {
        for (const name of added) {
          if (names.delete(name)) hub.unsubscribe(kind, Buffer.from(name), this);
        }
        const failure =
          error instanceof SluiceError
            ? error
            : new SluiceError(
                'SLUICE_ERR_REDIS_UNAVAILABLE',
                `ERR Redis did not confirm the subscription: ${error instanceof Error ? error.message : String(error)}`,
                { cause: error },
              );
        this.#acknowledged(errorFrame(idJson, failure));
      },
    );
  }

  /** Sends a subscription's answer, then the pushes that waited behind it. */
  #acknowledged(text: string): void {
    this.#acking--;
    this.#answer(text);
    if (this.#acking > 0 || this.#held.length === 0) return;
    const held = this.#held;
    this.#dropHeld();
    for (const push of held) this.#send(push);
  }

  #dropHeld(): void {
    this.#held = [];
    this.#heldBytes = 0;
  }

  /** Sends the answer of a request that counted as in flight. */
  #answer(text: string): void {
    this.#inflight--;
    this.#quota?.leave();
    this.#send(text);
    if (this.#draining && this.#inflight === 0) this.#closeDraining();
  }

  #closeDraining(): void {
    this.close(
      1001,
      closeReason(
        new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down; reconnect elsewhere'),
      ),
    );
  }

  #send(text: string): void {
    if (this.#closing) return;
    const ws = this.#ws;
    const flow = this.#flow;
    // A large frame is watched until written, so that the token's count of unread bytes goes down with it.
    const watch = flow !== undefined && ws.bufferedAmount + text.length >= WATCHED_BYTES;
    if (ws.send(text, watch ? this.#written : undefined)) this.#deps.frames.out++;
    if (watch) flow.report(ws.bufferedAmount);
    // bufferedAmount counts what the kernel has not taken yet: a reader that stops reading makes it grow.
    if (ws.bufferedAmount > this.#deps.sendBufferBytes) this.#slowReader(ws.bufferedAmount);
  }

  /** A watched frame left for the kernel: the token hears the new count, and waiting requests may start. */
  readonly #written = (): void => {
    if (this.#closing) return;
    this.#flow?.report(this.#ws.bufferedAmount);
    this.#startWaiting();
  };

  #slowReader(bytes: number): void {
    const limit = this.#deps.sendBufferBytes;
    this.#deps.limitHit();
    this.#deps.logger.warn(
      { event: 'ws_slow_reader', connId: this.#connId, bufferedBytes: bytes, limitBytes: limit },
      'closing a WebSocket that does not read its replies (SLUICE_WS_SEND_BUFFER_BYTES)',
    );
    this.#fail(
      new SluiceError(
        'SLUICE_ERR_WS_SLOW_READER',
        `ERR ${bytes} bytes wait to be sent (SLUICE_WS_SEND_BUFFER_BYTES=${limit})`,
      ),
    );
  }

  /** Sends the error without an id (when the socket can still take it), then closes with its close code. */
  #fail(error: SluiceError): void {
    if (this.#closing) return;
    if (error.code !== 'SLUICE_ERR_WS_SLOW_READER') this.#send(errorFrame('null', error));
    if (this.#closing) return;
    this.close(closeCodeOf(error), closeReason(error));
  }
}
