// The TLS side of the main listener: the TCP socket before TLS takes it (plain HTTP gets a clear answer instead of a
// dropped connection), handshake failures (counted, logged at debug, never fatal), and which handshakes resumed a session.
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SluiceError } from '../errors.js';
import { writeRawError } from '../entrance/raw-error.js';
import { keepSocketErrorsLocal } from '../entrance/socket-errors.js';
import type { Logger } from '../log.js';

/** What the TLS entry saw since start; cumulative. */
export interface TlsCounts {
  /** Handshakes that made a new session (a full handshake: key exchange and certificate). */
  fullHandshakes: number;
  /** Handshakes that resumed a session from a ticket. */
  resumedHandshakes: number;
  /** Handshakes that failed: bad ClientHello, no shared version or cipher, a client certificate missing or refused, a timeout, a reset. */
  handshakeFailures: number;
  /** Connections that sent plain HTTP and were answered SLUICE_ERR_HTTP_NOT_TLS. */
  plainHttp: number;
}

export interface TlsEntryOptions {
  /** Time a client has to send its first byte; its connection is closed after it (SLUICE_HTTP_HEADERS_TIMEOUT_MS). */
  readonly firstByteTimeoutMs: number;
  /** The sync token to put on the plain-HTTP refusal, as on every answer. */
  readonly syncToken: () => string;
  readonly logger?: Logger | undefined;
}

/** Every TLS connection starts with a record of type handshake (22): its ClientHello. */
const TLS_HANDSHAKE_RECORD = 0x16;

type TlsConnectionListener = (this: HttpsServer, socket: Socket) => void;

const NOT_TLS = new SluiceError(
  'SLUICE_ERR_HTTP_NOT_TLS',
  'ERR this port speaks HTTPS: use https:// (and wss:// for /ws)',
);

/** A request method starts with an upper-case letter; a TLS connection never does. */
function looksLikeHttp(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a;
}

function destroyThis(this: Socket): void {
  this.destroy();
}

/**
 * Stands between the TCP listener and TLS: each connection's first bytes are read (one read, then put back) before
 * TLS gets the socket. A TLS ClientHello goes on to TLS unchanged; what looks like an HTTP request line is answered
 * `400 SLUICE_ERR_HTTP_NOT_TLS` in clear text and closed (as nginx answers 497), where TLS alone would just drop it
 * and leave the client with a bare reset. Handshake failures never reach node:http's 'clientError' (which would
 * answer them in HTTP): they are counted and logged at debug, and the socket is destroyed.
 */
export class TlsEntry {
  readonly counts: TlsCounts = {
    fullHandshakes: 0,
    resumedHandshakes: 0,
    handshakeFailures: 0,
    plainHttp: 0,
  };
  readonly #server: HttpsServer;
  readonly #options: TlsEntryOptions;
  readonly #tlsListener: TlsConnectionListener;

  constructor(server: HttpsServer, options: TlsEntryOptions) {
    this.#server = server;
    this.#options = options;
    // node:tls's own listener, which wraps a TCP socket in a TLSSocket (node-http-check.ts checks it at start-up).
    const [tlsListener] = server.listeners('connection') as TlsConnectionListener[];
    if (!tlsListener) throw new Error('node:tls registered no connection listener');
    this.#tlsListener = tlsListener;
    server.removeListener('connection', tlsListener);
    server.on('connection', this.#onConnection);
    // node:https turns handshake failures into 'clientError', which the main server answers with an HTTP error: on a
    // connection that has no TLS session, that answer is garbage to the client.
    server.removeAllListeners('tlsClientError');
    server.on('tlsClientError', this.#onHandshakeFailure);
    server.on('secureConnection', this.#onSecure);
  }

  readonly #onConnection = (socket: Socket): void => {
    // The TCP socket keeps this listener under the TLSSocket built on it, as every accepted socket does.
    socket.on('error', keepSocketErrorsLocal);
    // A client that connects and says nothing is cut off, as node:http's headers timeout would.
    socket.setTimeout(this.#options.firstByteTimeoutMs);
    socket.once('timeout', destroyThis);
    socket.once('data', (chunk: Buffer) => this.#firstBytes(socket, chunk));
  };

  #firstBytes(socket: Socket, chunk: Buffer): void {
    const first = chunk[0]!;
    if (first !== TLS_HANDSHAKE_RECORD && looksLikeHttp(first)) {
      this.counts.plainHttp++;
      this.#options.logger?.debug(
        { event: 'tls_plain_http', remote: socket.remoteAddress },
        'plain HTTP on the HTTPS port: answered 400 and closed',
      );
      writeRawError(socket, NOT_TLS, this.#options.syncToken());
      // Read and drop the rest of the request so the close is clean, not a reset; the timeout still ends a client
      // that never closes its side.
      socket.resume();
      return;
    }
    socket.setTimeout(0);
    socket.removeListener('timeout', destroyThis);
    socket.pause();
    // The TLSSocket made on this socket takes what it buffered first, then reads the rest from the socket's handle.
    socket.unshift(chunk);
    this.#tlsListener.call(this.#server, socket);
  }

  readonly #onHandshakeFailure = (error: NodeJS.ErrnoException, socket: TLSSocket): void => {
    this.counts.handshakeFailures++;
    this.#options.logger?.debug(
      {
        event: 'tls_handshake_failed',
        code: error.code,
        reason: error.message,
        remote: socket.remoteAddress,
      },
      'TLS handshake failed',
    );
    socket.destroy();
  };

  readonly #onSecure = (socket: TLSSocket): void => {
    if (socket.isSessionReused()) this.counts.resumedHandshakes++;
    else this.counts.fullHandshakes++;
  };
}
