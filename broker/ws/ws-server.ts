// The /ws endpoint: accepts upgrades (ws in noServer mode), enforces the per-process socket limit, runs heartbeats, drains.
import type { SyncTokens } from '../protocol/sync-token.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { type RawData, type ServerOptions, type WebSocket, WebSocketServer } from 'ws';
import type { Principal, TokensChange } from '../protocol/auth.js';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { BackendOf } from '../exec/backend.js';
import type { UpgradeHandler, UpgradeRequest } from '../entrance/upgrade.js';
import type { AdmittedUpgrade } from '../entrance/entrance.js';
import { writeRawError } from '../entrance/raw-error.js';
import type { Flows } from '../exec/flow.js';
import type { Logger } from '../log.js';
import type { CommandPreparer } from '../protocol/prepare.js';
import type { ReaderLimits } from './close.js';
import { WsConnection } from './ws-socket.js';
import { wantsBase64 } from './ws-messages.js';
import { upgradeRefusal } from './upgrade-request.js';
import { Session, type SessionDeps } from './session.js';
import type { Telemetry } from '../telemetry.js';
import type { Quotas } from '../entrance/quotas.js';

/** Options of the WebSocket endpoint (see the SLUICE_WS_* settings). */
export interface WsServerOptions {
  /** SLUICE_WS_MAX_FRAME_BYTES: the largest message accepted; a larger one closes the socket with 1009. */
  readonly maxFrameBytes: number;
  /** SLUICE_WS_MAX_INFLIGHT: unanswered requests per socket; past it a request is answered SLUICE_ERR_WS_MAX_INFLIGHT. */
  readonly maxInflight: number;
  /** SLUICE_WS_MAX_SOCKETS: sockets per process; past it the upgrade is refused with HTTP 503. */
  readonly maxSockets: number;
  /** SLUICE_WS_SEND_BUFFER_BYTES: bytes waiting to be sent on one socket before it is closed with 1013. */
  readonly sendBufferBytes: number;
  /** SLUICE_WS_HEARTBEAT_MS: ping interval; a socket that has not answered the previous ping is dropped. */
  readonly heartbeatMs: number;
  /** SLUICE_MAX_PIPELINE_COMMANDS. */
  readonly maxPipelineCommands: number;
  /** SLUICE_WS_COMPRESSION: negotiate permessage-deflate (COMPRESSION) with clients that offer it. */
  readonly compression?: boolean | undefined;
  /** Runs the heartbeat and starts request deadlines; the real clock by default. */
  readonly clock?: Clock | undefined;
}

/** What the endpoint needs from the broker. */
export interface WsServerDeps {
  readonly preparer: CommandPreparer;
  /** Where a caller's requests and subscriptions run: the broker's own Redis, or its tenant's. */
  readonly backends: BackendOf;
  readonly logger: Logger;
  /** A fresh sync token for refused upgrades (every HTTP response carries one). */
  syncToken(): string;
  /** Counts limit refusals (sockets, in-flight, slow readers). */
  readonly telemetry: Telemetry;
  /** Reply-byte bounds per socket and per token; none when absent. */
  readonly flows?: Flows;
  /** Per-token (or tenant) quotas: sockets at the upgrade, requests on each frame; none when absent. */
  readonly quotas?: Quotas;
  /** Sync positions (read regions): the per-auth-token floor of a socket's reads; none when absent. */
  readonly tokens?: SyncTokens;
}

/** How long a closing socket may take to answer our close frame before it is destroyed (ws's closeTimeout). */
const CLOSE_GRACE_MS = 5000;

/** ws's bound on the fragments of one message (its default since 8.21): a fragment holds a Buffer however small. */
const MAX_FRAGMENTS = 16 * 1024;

/**
 * ws's bound on the reads it holds while a frame is incomplete: each read is a Buffer object (a few hundred bytes
 * however few bytes it carries), so a frame sent one byte per TCP write once cost that per byte. ws's default
 * (262,144 for its 100 MiB maxPayload) lets a largest frame arrive in reads of 400 bytes on average; the same ratio
 * is kept for SLUICE_WS_MAX_FRAME_BYTES (26,215 reads for 10 MiB), with room for 1,024 reads of any smaller frame.
 */
export function maxBufferedChunks(maxFrameBytes: number): number {
  return Math.max(1024, Math.ceil(maxFrameBytes / 400));
}

/**
 * permessage-deflate as SLUICE_WS_COMPRESSION offers it, bounded per socket and per process. zlib keeps a stream
 * per direction for every socket that has compressed once. The broker's own window is 1 KiB (2^10) at memLevel 4,
 * about 12 KiB per socket instead of ~260 KiB at zlib's defaults; the client's window is the client's choice (a
 * number here would make ws refuse the handshake of clients that offer none, as Firefox does), so inflating costs
 * up to ~40 KiB per socket. No context is kept between messages. ws inflates within maxPayload (1009 past it), so a
 * small compressed message cannot expand beyond SLUICE_WS_MAX_FRAME_BYTES, and its limiter runs at most
 * `concurrencyLimit` zlib jobs at once in the process.
 */
export const COMPRESSION = Object.freeze({
  threshold: 1024,
  concurrencyLimit: 4,
  serverMaxWindowBits: 10,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  zlibDeflateOptions: { memLevel: 4 },
});

/** The WebSocket endpoint. One per broker process; MainServer hands it the upgrades for /ws. */
export class WsServer implements UpgradeHandler {
  readonly #wss: WebSocketServer;
  readonly #limits: ReaderLimits;
  readonly #options: WsServerOptions;
  readonly #clock: Clock;
  readonly #deps: WsServerDeps;
  readonly #sessionDeps: SessionDeps;
  readonly #frames = { in: 0, out: 0 };
  readonly #sessions = new Set<Session>();
  #heartbeat: ClockTimer | undefined;
  #nextConnId = 1;
  #draining = false;
  #drained: (() => void) | undefined;

  constructor(deps: WsServerDeps, options: WsServerOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#limits = {
      maxFrameBytes: options.maxFrameBytes,
      maxFragments: MAX_FRAGMENTS,
      maxBufferedChunks: maxBufferedChunks(options.maxFrameBytes),
    };
    const serverOptions: ServerOptions & { closeTimeout: number } = {
      noServer: true,
      // ws closes a socket whose message exceeds this with 1009 (before buffering its payload).
      maxPayload: options.maxFrameBytes,
      maxFragments: MAX_FRAGMENTS,
      maxBufferedChunks: this.#limits.maxBufferedChunks,
      perMessageDeflate: options.compression === true ? COMPRESSION : false,
      clientTracking: false,
      // pings are answered by WsConnection, which leaves them unanswered while the peer does not read
      autoPong: false,
      // newer than the @types/ws release, which does not list it yet
      closeTimeout: CLOSE_GRACE_MS,
    };
    this.#wss = new WebSocketServer(serverOptions);
    // What ws refuses after our own checks (a malformed subprotocol list) is answered as JSON too.
    this.#wss.on('wsClientError', (error: Error, socket: Socket) =>
      this.#refuse(socket, new SluiceError('SLUICE_ERR_HTTP_BAD_HEADER', `ERR ${error.message}`)),
    );
    this.#sessionDeps = {
      preparer: deps.preparer,
      backends: deps.backends,
      logger: deps.logger,
      maxPipelineCommands: options.maxPipelineCommands,
      maxInflight: options.maxInflight,
      sendBufferBytes: options.sendBufferBytes,
      frames: this.#frames,
      limitHit: () => deps.telemetry.refused('ws_limit'),
      flows: deps.flows,
      tokens: deps.tokens,
      clock: this.#clock,
      quotas: deps.quotas,
    };
  }

  /** Open sockets and cumulative frame counts, for metrics. */
  stats(): { sockets: number; framesIn: number; framesOut: number } {
    return { sockets: this.#sessions.size, framesIn: this.#frames.in, framesOut: this.#frames.out };
  }

  /** Open sockets. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * UpgradeHandler: the entrance admitted the caller; `request` is node:http's request, or the fields ws reads of
   * one (method, url, headers) built from the fast path's; `head` is what the client sent after it.
   */
  handleUpgrade(request: UpgradeRequest, socket: Socket, head: Buffer, admitted: AdmittedUpgrade): void {
    const { principal, query } = admitted;
    if (this.#draining)
      return this.#refuse(socket, new SluiceError('SLUICE_ERR_DRAINING', 'ERR the broker is shutting down'));
    const max = this.#options.maxSockets;
    if (this.#sessions.size >= max) {
      this.#deps.logger.warn(
        { event: 'ws_max_sockets', limit: max },
        'refused a WebSocket: too many open (SLUICE_WS_MAX_SOCKETS)',
      );
      this.#deps.telemetry.refused('ws_limit');
      return this.#refuse(
        socket,
        new SluiceError(
          'SLUICE_ERR_WS_MAX_SOCKETS',
          `ERR ${this.#sessions.size} WebSockets are open on this process (SLUICE_WS_MAX_SOCKETS=${max})`,
        ),
      );
    }
    const refusal = upgradeRefusal(request.method ?? 'GET', request.headers);
    if (refusal) return this.#refuse(socket, refusal);
    const quota = this.#deps.quotas?.openSocket(principal);
    if (quota instanceof SluiceError) return this.#refuse(socket, quota);
    const base64 = wantsBase64(query);
    // Without verifyClient or compression ws completes the handshake synchronously, so the count above stays exact.
    let opened = false;
    this.#wss.handleUpgrade(request as IncomingMessage, socket, head, (ws) => {
      opened = true;
      ws.once('close', () => quota?.closeSocket());
      this.#open(ws, socket, principal, base64);
    });
    // ws refused the handshake after all (wsClientError): the socket slot is given back.
    if (!opened) quota?.closeSocket();
  }

  /** Stops taking sockets; each open one answers what it has in flight, then closes with 1001. Resolves when all closed. */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#sessions.size === 0) {
      this.#stopHeartbeat();
      return Promise.resolve();
    }
    const done = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    for (const session of this.#sessions) session.drain();
    return done;
  }

  /**
   * The tokens file was reloaded: sockets of removed tokens (or tokens moved to another tenant) close with 4001
   * `token revoked`; sockets of tokens with other rights use them from their next request.
   */
  revoke(change: TokensChange): void {
    if (change.removed.length === 0 && change.changed.size === 0) return;
    const removed = new Set(change.removed);
    for (const session of this.#sessions) {
      const { principal } = session;
      if (removed.has(principal)) session.revise(undefined);
      else if (change.changed.has(principal)) session.revise(change.changed.get(principal));
    }
  }

  /** Destroys every socket still open (after the drain deadline) and stops the heartbeat. */
  close(): void {
    this.#draining = true;
    this.#stopHeartbeat();
    for (const session of this.#sessions) session.terminate();
  }

  #open(ws: WebSocket, socket: Socket, principal: Principal, base64: boolean): void {
    const connId = this.#nextConnId++;
    const connection = new WsConnection(ws, socket, this.#limits, (error) =>
      this.#deps.logger.warn(
        { event: 'ws_protocol_error', connId, code: error.code },
        `WebSocket closed on a protocol error: ${error.message}`,
      ),
    );
    const session = new Session(connection, principal, base64, this.#sessionDeps, connId);
    this.#sessions.add(session);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.#frames.in++;
      session.receive(data as Buffer, isBinary);
    });
    ws.on('pong', () => {
      session.alive = true;
    });
    ws.on('close', () => {
      session.ended();
      this.#sessions.delete(session);
      if (this.#sessions.size === 0) {
        this.#stopHeartbeat();
        this.#drained?.();
      }
    });
    if (this.#draining) session.drain();
    else this.#startHeartbeat();
    // the fast path paused the socket when it let it go (node:http leaves it neither paused nor flowing)
    socket.resume();
  }

  #startHeartbeat(): void {
    if (this.#heartbeat) return;
    // One timer for every socket: a socket that has not answered the last ping by the next one is dead.
    this.#heartbeat = this.#clock.setInterval(() => {
      for (const session of this.#sessions) {
        if (session.closing) continue;
        if (!session.alive) {
          this.#deps.logger.warn(
            { event: 'ws_heartbeat_timeout', limitMs: this.#options.heartbeatMs },
            'dropping a WebSocket that missed a pong (SLUICE_WS_HEARTBEAT_MS)',
          );
          session.terminate();
          continue;
        }
        session.alive = false;
        session.ping();
      }
    }, this.#options.heartbeatMs);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    this.#clock.clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Answers an upgrade with an HTTP error (JSON body, sync token, Retry-After on 503), then closes the connection. */
  #refuse(socket: Socket, error: SluiceError): void {
    const retry = error.retryAfterSeconds === undefined ? '' : `Retry-After: ${error.retryAfterSeconds}\r\n`;
    // RFC 6455 §4.2.2: a refused handshake names the version the server speaks
    writeRawError(socket, error, this.#deps.syncToken(), `${retry}Sec-WebSocket-Version: 13\r\n`);
  }
}
