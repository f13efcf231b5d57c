// One server-side WebSocket over an upgraded socket: frames in and out, pings, and the closing handshake (RFC 6455 §7).
import type { Socket } from 'node:net';
import type { SluiceError } from '../errors.js';
import { FrameReader } from './frame-reader.js';
import { closeCodeOf, closeFrame, closeReason, PING_FRAME, pongFrame, textFrame } from './frame-writer.js';

/** What the connection reports to its owner. */
export interface WsEvents {
  message(data: Buffer, isBinary: boolean): void;
  pong(): void;
  /** The peer broke the protocol; the connection has already sent a close frame with the error's code, and ended. */
  protocolError(error: SluiceError): void;
  /** The socket closed (after a closing handshake or not). */
  closed(): void;
}

/**
 * An open WebSocket. Frames are written straight to the socket, one buffer each, and the socket is corked until
 * the end of the tick so that replies ready together (one Redis read answers a batch) leave in one write.
 */
export class WsConnection {
  readonly #socket: Socket;
  readonly #reader: FrameReader;
  readonly #events: WsEvents;
  #closeSent = false;
  #closeReceived = false;
  #corked = false;

  /** Takes over `socket` (already answered 101); call `start` once its owner is ready for events. */
  constructor(socket: Socket, maxPayload: number, events: WsEvents) {
    this.#socket = socket;
    this.#events = events;
    this.#reader = new FrameReader(maxPayload, {
      message: (data, isBinary) => events.message(data, isBinary),
      ping: (payload) => {
        // §5.5.2: answered at once, unless this side already said goodbye. While the peer is not reading what was
        // sent, pings go unanswered (§5.5.3 allows answering only the latest): a peer that sends pings and never
        // reads must not make the broker buffer a pong for each.
        if (!this.#closeSent && socket.writable && !socket.writableNeedDrain)
          socket.write(pongFrame(payload));
      },
      pong: () => events.pong(),
      close: (code) => this.#peerClosed(code),
      fail: (error) => this.#protocolError(error),
    });
  }

  /** Starts reading: `head` is what the client sent after its upgrade request. */
  start(head: Buffer): void {
    const socket = this.#socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    // the fast path paused the socket when it let it go (node:http leaves it neither paused nor flowing)
    socket.resume();
    if (head.length > 0) this.#reader.push(head);
  }

  /** Whether data frames can still be sent: no close frame sent or received, socket writable. */
  get open(): boolean {
    return !this.#closeSent && !this.#closeReceived && this.#socket.writable;
  }

  /** Bytes written but not yet taken by the kernel: grows while the peer does not read. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /** Sends a text frame; false (nothing sent) once the connection is closing. */
  send(text: string): boolean {
    if (!this.open) return false;
    this.#corkUntilTickEnds();
    this.#socket.write(textFrame(text));
    return true;
  }

  /** Sends a heartbeat ping. */
  ping(): void {
    if (this.open) this.#socket.write(PING_FRAME);
  }

  /**
   * Starts the closing handshake: sends a close frame and waits for the peer's, after which the socket is ended.
   * The caller bounds the wait (`terminate` after a grace period).
   */
  close(code: number, reason: string): void {
    if (this.#closeSent || !this.#socket.writable) return;
    this.#closeSent = true;
    this.#socket.write(closeFrame(code, reason));
    if (this.#closeReceived) this.#socket.end();
  }

  /** Destroys the socket at once, without a close frame. */
  terminate(): void {
    this.#reader.stop();
    this.#socket.destroy();
  }

  /** The peer's close frame: answered with the same code (§5.5.1) unless this side closed first; then the socket ends. */
  #peerClosed(code: number): void {
    this.#closeReceived = true;
    if (!this.#socket.writable) return;
    if (!this.#closeSent) {
      this.#closeSent = true;
      this.#socket.write(closeFrame(code === 1005 ? undefined : code));
    }
    this.#socket.end();
  }

  /** §7.1.7, failing the connection: a close frame with the code, then the socket ends without waiting for an answer. */
  #protocolError(error: SluiceError): void {
    if (this.#socket.writable) {
      if (!this.#closeSent) this.#socket.write(closeFrame(closeCodeOf(error), closeReason(error)));
      this.#socket.end();
    }
    this.#closeSent = true;
    this.#events.protocolError(error);
  }

  #corkUntilTickEnds(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#socket.cork();
    process.nextTick(this.#uncork);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  readonly #onData = (chunk: Buffer): void => {
    this.#reader.push(chunk);
  };

  /** The peer shut its side (upgraded sockets are half-open): end ours too; no more frames can come. */
  readonly #onEnd = (): void => {
    this.#reader.stop();
    if (this.#socket.writable) this.#socket.end();
  };

  readonly #onError = (): void => {
    this.#socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#reader.stop();
    this.#events.closed();
  };
}
