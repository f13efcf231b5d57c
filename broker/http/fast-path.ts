// The fast path: plain REST requests are read and answered straight off the socket, without node:http's objects.
// A connection stays here while its requests are plain (see wire-request.ts) and the host serves them; at the first other
// request it is handed to node:http for good, with the bytes not yet served, once its answers are out.
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import type { CallerMemo } from '../entrance/entrance.js';
import { keepSocketErrorsLocal } from '../entrance/socket-errors.js';
import { readWireRequest, type WireLimits, type WireRequest } from './wire-request.js';
import type { ClientFlow } from '../exec/flow.js';
import type { QuotaAccount } from '../entrance/quotas.js';

/** Where the fast path sends requests: serves one and returns true, or returns false to leave it to node:http. */
export interface FastHost {
  serve(request: WireRequest, response: FastResponse): boolean;
  /**
   * An upgrade request, first on its connection: taken (true) by calling `take` for the socket, which then leaves
   * the fast path, with `head` (what the client sent after the request); or left to node:http (false).
   */
  upgrade(request: WireRequest, head: Buffer, connection: CallerMemo, take: () => Socket): boolean;
}

export interface FastOptions extends WireLimits {
  /**
   * The server event that gives a connection ready for HTTP, whose node:http listener the fast path takes over:
   * 'connection' (plain), or 'secureConnection' (node:https: a TLSSocket once its handshake is done). Default
   * 'connection'.
   */
  readonly event?: 'connection' | 'secureConnection' | undefined;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Times idleness and runs the idle sweep; the real clock by default. */
  readonly clock?: Clock | undefined;
}

/** node:http's server, or node:https's (a TLS server whose secure connections node:http serves). */
type Server = HttpServer | HttpsServer;

type NodeConnectionListener = (this: Server, socket: Socket) => void;

/** How often idle connections are checked: a quarter of the shorter timeout, within 10 ms to 1 s. */
function sweepPeriodMs(options: FastOptions): number {
  return Math.max(
    10,
    Math.min(1000, Math.floor(Math.min(options.headersTimeoutMs, options.keepAliveTimeoutMs) / 4)),
  );
}

let cachedDate: string | undefined;

/** The Date header value, made at most once a second (as node:http does: a timer forgets it on the second). */
function httpDate(): string {
  if (cachedDate === undefined) {
    const now = new Date();
    cachedDate = now.toUTCString();
    setTimeout(forgetDate, 1000 - now.getMilliseconds()).unref();
  }
  return cachedDate;
}

function forgetDate(): void {
  cachedDate = undefined;
}

const statusLines: string[] = [];

/** `HTTP/1.1 <status> <reason>` and its CRLF, made once per status. */
function statusLine(status: number): string {
  let line = statusLines[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    statusLines[status] = line;
  }
  return line;
}

/** What the host keeps per fast connection: the caller the entrance remembers, and the reply bytes it may owe. */
export interface FastCaller extends CallerMemo {
  /** The reply bytes this connection may have owed (made by the host at its first request). */
  flow: ClientFlow | undefined;
  /** Starts reading requests again once its flow allows (the flow's wake-up). */
  readonly resumeReading: () => void;
}

/** One response of a fast connection; the fields and methods the Responder uses of a ServerResponse. */
export class FastResponse {
  headersSent = false;
  /** The quota account the request counts as in flight on, until it is answered or its client goes away. */
  quota: QuotaAccount | undefined;
  #connection: FastConnection;
  #head = '';
  #body: string | Buffer | undefined;
  #closeAfter = false;
  #abandoned: (() => void)[] | undefined;

  constructor(connection: FastConnection) {
    this.#connection = connection;
  }

  /** The connection's remembered caller. */
  get connection(): FastCaller {
    return this.#connection;
  }

  /** True once the client went away. */
  get destroyed(): boolean {
    return this.#connection.closed;
  }

  /** Whether `end()` was called: the response can be written once those before it are. */
  get complete(): boolean {
    return this.#body !== undefined;
  }

  /** Builds the status line and headers (`headers` as name, value pairs) with Date; Connection comes in writeTo. */
  writeHead(status: number, headers: readonly string[]): this {
    let head = statusLine(status);
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 10 && name.toLowerCase() === 'connection') {
        this.#closeAfter ||= headers[i + 1]!.toLowerCase() === 'close';
        continue;
      }
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    this.#head = head + `Date: ${httpDate()}\r\n`;
    this.headersSent = true;
    return this;
  }

  /** The connection closes once this response is written (the request said `Connection: close`). */
  closeAfterwards(): void {
    this.#closeAfter = true;
  }

  /** Completes the response with its body; it is written in request order. */
  end(body: string | Buffer): this {
    this.#body = body;
    this.#leaveQuota();
    this.#connection.flow?.answered(body.length);
    this.#connection.flush();
    return this;
  }

  /** Calls `listener` if the client goes away before this response was written. */
  onAbandon(listener: () => void): void {
    if (this.#abandoned) this.#abandoned.push(listener);
    else this.#abandoned = [listener];
  }

  /**
   * Writes the response to `socket`; true when the connection must close after it. `last`: no request is pending
   * after this one. When draining, only the last says `Connection: close`: the requests pipelined after an earlier
   * one already ran, and a client that saw `close` would drop their answers and retry them.
   */
  writeTo(socket: Socket, last: boolean): boolean {
    const close = this.#closeAfter || (last && !this.#connection.keepAlive);
    const head = this.#head + (close ? 'Connection: close\r\n\r\n' : this.#connection.keepAliveHead);
    const body = this.#body!;
    if (typeof body === 'string') socket.write(head + body);
    else {
      socket.write(head);
      socket.write(body);
    }
    return close;
  }

  /** The client went away before this response was written. */
  abandon(): void {
    this.#leaveQuota();
    for (const listener of this.#abandoned ?? []) listener();
  }

  #leaveQuota(): void {
    const quota = this.quota;
    if (quota === undefined) return;
    this.quota = undefined;
    quota.leave();
  }
}

/** One client connection served by the fast path until it is handed to node:http. */
class FastConnection implements FastCaller {
  closed = false;
  caller: CallerMemo['caller'];
  flow: ClientFlow | undefined;
  readonly #socket: Socket;
  readonly #fast: FastHttp;
  /** Responses not yet written, in request order. */
  readonly #pending: FastResponse[] = [];
  #served = 0;
  /** Whether 'data' is flowing to #onData: false while waiting for the client to read, and once handed off. */
  #reading = true;
  /** Bytes waiting for node:http once the pending responses are out; undefined while this connection is fast. */
  #handOffBytes: Buffer | undefined;
  /** Requests read but not started because the connection's flow is over its bound (see #holdBack). */
  #unread: Buffer | undefined;
  /**
   * When the connection last became idle (the clock's `now()`): opened, or its last answer written or drained. A
   * request makes it busy until answered, and anything else it sends takes it off the fast path.
   */
  #lastActive: number;

  constructor(socket: Socket, fast: FastHttp) {
    this.#socket = socket;
    this.#fast = fast;
    this.#lastActive = fast.clock.now();
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  get keepAlive(): boolean {
    return !this.#fast.draining;
  }

  /** The end of a response head that keeps the connection open. */
  get keepAliveHead(): string {
    return this.#fast.keepAliveHead;
  }

  get idle(): boolean {
    return this.#pending.length === 0;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** Stops serving and ends the socket once what was written is sent (an answer may still be on its way). */
  close(): void {
    this.#stopReading();
    this.#socket.end();
  }

  readonly #onData = (chunk: Buffer): void => {
    let offset = 0;
    while (offset < chunk.length) {
      // Pipelined requests start while the replies they may bring fit the flow's bounds (SLUICE_*_MAX_PENDING_BYTES);
      // the others wait, unparsed, with the socket paused. A request with none before it always starts.
      if (this.#pending.length > 0 && this.flow?.mayStart(this.#socket.writableLength) === false)
        return this.#holdBack(chunk.subarray(offset));
      const request = readWireRequest(chunk, offset, this.#fast.options);
      if (!request) break;
      if (request.upgrade) {
        const head = chunk.subarray(request.end);
        if (this.#pending.length === 0 && this.#fast.host.upgrade(request, head, this, this.#release)) return;
        break;
      }
      // Queued before serving: an error can be answered synchronously.
      const response = new FastResponse(this);
      if (request.close) response.closeAfterwards();
      this.#pending.push(response);
      if (!this.#fast.host.serve(request, response)) {
        this.#pending.pop();
        break;
      }
      if (request.close) {
        // The client's last request: what it sent after it is not processed (RFC 9112 §9.6); the socket closes
        // after the answer (flush), or at once if the client goes first.
        this.#stopReading();
        return;
      }
      this.#served++;
      offset = request.end;
    }
    if (offset < chunk.length) this.#handOff(chunk.subarray(offset));
  };

  /** Writes the completed responses at the head of the queue. */
  flush(): void {
    const pending = this.#pending;
    let ready = 0;
    while (ready < pending.length && pending[ready]!.complete) ready++;
    if (ready === 0 || this.closed) return;
    const socket = this.#socket;
    if (ready > 1) socket.cork();
    let close = false;
    const all = ready === pending.length;
    for (let i = 0; i < ready && !close; i++) close = pending[i]!.writeTo(socket, all && i === ready - 1);
    if (all) pending.length = 0;
    else pending.splice(0, ready);
    if (ready > 1) socket.uncork();
    if (pending.length === 0) this.#lastActive = this.#fast.clock.now();
    if (close) {
      this.#stopReading();
      socket.end();
      return;
    }
    if (pending.length === 0 && this.#handOffBytes) this.#completeHandOff();
    else if (this.#reading && socket.writableNeedDrain) {
      // Backpressure, as node:http applies it: a client that does not read its answers gets no more requests
      // served until they drain, instead of the broker buffering every answer it sends.
      this.#reading = false;
      socket.pause();
      socket.once('drain', this.#onDrain);
    }
    const flow = this.flow;
    if (flow !== undefined) {
      flow.report(socket.writableLength);
      if (this.#unread !== undefined) this.resumeReading();
    }
  }

  readonly #onDrain = (): void => {
    this.#lastActive = this.#fast.clock.now();
    this.#reading = true;
    this.flow?.report(this.#socket.writableLength);
    if (this.#unread !== undefined) this.resumeReading();
    else this.#socket.resume();
  };

  /** Keeps requests that may not start yet: the socket is paused until resumeReading takes them up. */
  #holdBack(bytes: Buffer): void {
    this.#unread = bytes;
    this.#socket.pause();
  }

  /** Serves the held requests the flow allows now, then reads the socket again when none is left held. */
  readonly resumeReading = (): void => {
    const bytes = this.#unread;
    if (bytes === undefined || this.closed || !this.#reading) return;
    if (this.flow?.mayStart(this.#socket.writableLength) === false) return;
    this.#unread = undefined;
    this.#onData(bytes);
    if (this.#unread === undefined && this.#reading) this.#socket.resume();
  };

  #stopReading(): void {
    this.#reading = false;
    this.#socket.pause();
    this.#socket.removeListener('data', this.#onData);
    this.#socket.removeListener('drain', this.#onDrain);
  }

  #handOff(bytes: Buffer): void {
    this.#stopReading();
    this.#handOffBytes = bytes;
    if (this.#pending.length === 0) this.#completeHandOff();
  }

  #completeHandOff(): void {
    const bytes = this.#handOffBytes!;
    this.#handOffBytes = undefined;
    const socket = this.#release();
    if (bytes.length > 0) socket.unshift(bytes);
    this.#fast.handToNode(socket);
    socket.resume();
  }

  /** Leaves the socket to another owner: no listener, timeout or reading of this connection remains. */
  readonly #release = (): Socket => {
    const socket = this.#socket;
    this.#stopReading();
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('close', this.#onClose);
    socket.removeListener('error', this.#onError);
    this.flow?.close();
    this.flow = undefined;
    this.#fast.forget(this);
    return socket;
  };

  /**
   * Ends the connection when it has been idle (no request in flight) for longer than its timeout at `now`: the
   * headers timeout before its first request, the keep-alive timeout after.
   */
  expireIfIdle(now: number): void {
    if (this.#pending.length > 0) return;
    const { headersTimeoutMs, keepAliveTimeoutMs } = this.#fast.options;
    if (now - this.#lastActive < (this.#served === 0 ? headersTimeoutMs : keepAliveTimeoutMs)) return;
    // A connection that never sent a request goes to node:http, whose headers timeout answers it with a 408: after
    // up to twice SLUICE_HTTP_HEADERS_TIMEOUT_MS in all, since node:http's clock starts at the hand-off.
    if (this.#served === 0) this.#handOff(Buffer.alloc(0));
    else this.#socket.destroy();
  }

  /** The client shut its side: like node:http (without allowHalfOpen), its pending requests are abandoned. */
  readonly #onEnd = (): void => {
    this.#abandonAll();
    // After a `Connection: close` answer the socket is already ended: ending it again only builds (and drops) an
    // ERR_STREAM_ALREADY_FINISHED with its stack trace, once per connection of a connection storm.
    if (!this.#socket.writableEnded) this.#socket.end();
  };

  readonly #onError = (): void => {
    this.#socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#abandonAll();
    this.#unread = undefined;
    this.flow?.close();
    this.#fast.forget(this);
  };

  #abandonAll(): void {
    this.closed = true;
    for (const response of this.#pending.splice(0)) response.abandon();
  }
}

/**
 * Takes over the 'connection' event of node:http's server ('secureConnection' of node:https's): every connection
 * starts on the fast path and is handed to node:http's own listener when it needs it, so the server keeps listening,
 * counting and closing connections. A TLSSocket is a stream like any socket: over TLS the fast path reads and
 * writes the cleartext side, and HTTPS costs only TLS.
 */
export class FastHttp {
  readonly host: FastHost;
  readonly options: FastOptions;
  readonly clock: Clock;
  /** `Connection: keep-alive` and `Keep-Alive: timeout=…` (whole seconds, as node:http says it), ending a head. */
  readonly keepAliveHead: string;
  draining = false;
  readonly #server: Server;
  readonly #nodeListener: NodeConnectionListener;
  readonly #connections = new Set<FastConnection>();
  /** Checks the idle connections against their timeouts while there are any (see #sweep). */
  #sweeper: ClockTimer | undefined;

  constructor(server: Server, host: FastHost, options: FastOptions) {
    this.host = host;
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.keepAliveHead = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
    this.#server = server;
    // node:http's own listener, replayed for each connection handed over (node-http-check.ts checks it at start-up).
    const event = options.event ?? 'connection';
    const [nodeListener] = server.listeners(event) as NodeConnectionListener[];
    if (!nodeListener) throw new Error(`node:http registered no ${event} listener`);
    this.#nodeListener = nodeListener;
    server.removeListener(event, nodeListener);
    server.on(event, (socket: Socket) => {
      socket.on('error', keepSocketErrorsLocal);
      this.#connections.add(new FastConnection(socket, this));
      this.#sweeper ??= this.clock.setInterval(this.#sweep, sweepPeriodMs(options)).unref();
    });
  }

  /**
   * Idle timeouts are checked a few times per timeout rather than kept as a timer per socket: Node refreshes a
   * socket's timer on every read and write, twice per request (bench/results/code-comment-figures.md). A connection is
   * closed up to a quarter of its timeout (at most a second) late.
   */
  readonly #sweep = (): void => {
    const now = this.clock.now();
    for (const connection of this.#connections) connection.expireIfIdle(now);
    if (this.#connections.size === 0) {
      this.clock.clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  };

  handToNode(socket: Socket): void {
    this.#nodeListener.call(this.#server, socket);
  }

  forget(connection: FastConnection): void {
    this.#connections.delete(connection);
  }

  /** Stops keeping connections alive: idle ones close now, busy ones after their last response. */
  drain(): void {
    this.draining = true;
    for (const connection of this.#connections) if (connection.idle) connection.close();
  }

  /** Closes every fast connection at once. */
  closeAll(): void {
    for (const connection of this.#connections) connection.destroy();
  }
}
