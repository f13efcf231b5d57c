// The fast path: plain REST requests are read and answered straight off the socket, without node:http's objects.
// A connection stays here while its requests are plain (see wire.ts) and the host serves them; at the first other
// request it is handed to node:http for good, with the bytes not yet served, once its answers are out.
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { readWireRequest, type WireLimits, type WireRequest } from './wire.js';

/** Where the fast path sends requests: serves one and returns true, or returns false to leave it to node:http. */
export interface FastHost {
  serve(request: WireRequest, response: FastResponse): boolean;
}

export interface FastOptions extends WireLimits {
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

type NodeConnectionListener = (this: Server, socket: Socket) => void;

let cachedDate = '';
let cachedDateUntil = 0;

/** The Date header value, computed at most once a second (as node:http does). */
function httpDate(): string {
  const now = Date.now();
  if (now >= cachedDateUntil) {
    cachedDate = new Date(now).toUTCString();
    cachedDateUntil = now - (now % 1000) + 1000;
  }
  return cachedDate;
}

/** One response of a fast connection; the fields and methods the Responder uses of a ServerResponse. */
export class FastResponse {
  headersSent = false;
  #connection: FastConnection;
  #head = '';
  #body: string | Buffer | undefined;
  #closeAfter = false;
  #abandoned: (() => void)[] | undefined;

  constructor(connection: FastConnection) {
    this.#connection = connection;
  }

  /** True once the client went away. */
  get destroyed(): boolean {
    return this.#connection.closed;
  }

  /** Whether `end()` was called: the response can be written once those before it are. */
  get complete(): boolean {
    return this.#body !== undefined;
  }

  /** Builds the status line and headers (`headers` as name, value pairs) with Date and keep-alive headers. */
  writeHead(status: number, headers: readonly string[]): this {
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.toLowerCase() === 'connection') {
        this.#closeAfter ||= headers[i + 1]!.toLowerCase() === 'close';
        continue;
      }
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    this.#closeAfter ||= !this.#connection.keepAlive;
    head += `Date: ${httpDate()}\r\n`;
    head += this.#closeAfter
      ? 'Connection: close\r\n\r\n'
      : `Connection: keep-alive\r\nKeep-Alive: timeout=${this.#connection.keepAliveSeconds}\r\n\r\n`;
    this.#head = head;
    this.headersSent = true;
    return this;
  }

  /** Completes the response with its body; it is written in request order. */
  end(body: string | Buffer): this {
    this.#body = body;
    this.#connection.flush();
    return this;
  }

  /** Calls `listener` if the client goes away before this response was written. */
  onAbandon(listener: () => void): void {
    if (this.#abandoned) this.#abandoned.push(listener);
    else this.#abandoned = [listener];
  }

  /** Writes the response to `socket`; true when the connection must close after it. */
  writeTo(socket: Socket): boolean {
    const body = this.#body!;
    if (typeof body === 'string') socket.write(this.#head + body);
    else {
      socket.write(this.#head);
      socket.write(body);
    }
    return this.#closeAfter;
  }

  /** The client went away before this response was written. */
  abandon(): void {
    for (const listener of this.#abandoned ?? []) listener();
  }
}

/** One client connection served by the fast path until it is handed to node:http. */
class FastConnection {
  closed = false;
  readonly #socket: Socket;
  readonly #fast: FastHttp;
  /** Responses not yet written, in request order. */
  readonly #pending: FastResponse[] = [];
  #served = 0;
  /** Bytes waiting for node:http once the pending responses are out; undefined while this connection is fast. */
  #handOffBytes: Buffer | undefined;

  constructor(socket: Socket, fast: FastHttp) {
    this.#socket = socket;
    this.#fast = fast;
    socket.setTimeout(fast.options.headersTimeoutMs);
    socket.on('data', this.#onData);
    socket.on('timeout', this.#onTimeout);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  get keepAlive(): boolean {
    return !this.#fast.draining;
  }

  get keepAliveSeconds(): number {
    return Math.floor(this.#fast.options.keepAliveTimeoutMs / 1000);
  }

  get idle(): boolean {
    return this.#pending.length === 0;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    let offset = 0;
    while (offset < chunk.length) {
      const request = readWireRequest(chunk, offset, this.#fast.options);
      if (!request) break;
      // Queued before serving: an error can be answered synchronously.
      const response = new FastResponse(this);
      this.#pending.push(response);
      if (!this.#fast.host.serve(request, response)) {
        this.#pending.pop();
        break;
      }
      if (this.#served++ === 0) this.#socket.setTimeout(this.#fast.options.keepAliveTimeoutMs);
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
    for (const response of pending.splice(0, ready)) {
      close = response.writeTo(socket);
      if (close) break;
    }
    if (ready > 1) socket.uncork();
    if (close) {
      this.#stopReading();
      socket.end();
    } else if (pending.length === 0) {
      if (this.#handOffBytes) this.#completeHandOff();
      else if (this.#fast.draining) socket.end();
    }
  }

  #stopReading(): void {
    this.#socket.pause();
    this.#socket.removeListener('data', this.#onData);
  }

  #handOff(bytes: Buffer): void {
    this.#stopReading();
    this.#handOffBytes = bytes;
    if (this.#pending.length === 0) this.#completeHandOff();
  }

  #completeHandOff(): void {
    const socket = this.#socket;
    const bytes = this.#handOffBytes!;
    this.#handOffBytes = undefined;
    socket.setTimeout(0);
    socket.removeListener('timeout', this.#onTimeout);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('close', this.#onClose);
    this.#fast.forget(this);
    if (bytes.length > 0) socket.unshift(bytes);
    this.#fast.handToNode(socket);
    socket.removeListener('error', this.#onError);
    socket.resume();
  }

  readonly #onTimeout = (): void => {
    if (this.#pending.length > 0) return;
    // A connection that never sent a request goes to node:http, whose headers timeout answers it with a 408.
    if (this.#served === 0) this.#handOff(Buffer.alloc(0));
    else this.#socket.destroy();
  };

  /** The client shut its side: like node:http (without allowHalfOpen), its pending requests are abandoned. */
  readonly #onEnd = (): void => {
    this.#abandonAll();
    this.#socket.end();
  };

  readonly #onError = (): void => {
    this.#socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#abandonAll();
    this.#fast.forget(this);
  };

  #abandonAll(): void {
    this.closed = true;
    for (const response of this.#pending.splice(0)) response.abandon();
  }
}

/**
 * Takes over the 'connection' event of node:http's server: every connection starts on the fast path and is handed
 * to node:http's own listener when it needs it, so the server keeps listening, counting and closing connections.
 */
export class FastHttp {
  readonly host: FastHost;
  readonly options: FastOptions;
  draining = false;
  readonly #server: Server;
  readonly #nodeListener: NodeConnectionListener;
  readonly #connections = new Set<FastConnection>();

  constructor(server: Server, host: FastHost, options: FastOptions) {
    this.host = host;
    this.options = options;
    this.#server = server;
    const [nodeListener] = server.listeners('connection') as NodeConnectionListener[];
    if (!nodeListener) throw new Error('node:http registered no connection listener');
    this.#nodeListener = nodeListener;
    server.removeListener('connection', nodeListener);
    server.on('connection', (socket: Socket) => this.#connections.add(new FastConnection(socket, this)));
  }

  handToNode(socket: Socket): void {
    this.#nodeListener.call(this.#server, socket);
  }

  forget(connection: FastConnection): void {
    this.#connections.delete(connection);
  }

  /** Stops keeping connections alive: idle ones close now, busy ones after their last response. */
  drain(): void {
    this.draining = true;
    for (const connection of this.#connections) if (connection.idle) connection.destroy();
  }

  /** Closes every fast connection at once. */
  closeAll(): void {
    for (const connection of this.#connections) connection.destroy();
  }
}
