// One open WebSocket as the session uses it: ws's WebSocket, with replies corked per tick and errors closed with a reason.
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { SluiceError } from '../errors.js';
import { closeCodeOf, closeReason, type ReaderLimits, readerError, type WsReceiverError } from './close.js';

/**
 * While more than this many bytes wait to be sent, pings go unanswered: a peer that sends pings and reads nothing
 * must not make the broker buffer a pong for each (RFC 6455 §5.5.3 allows answering only the latest). ws's own
 * auto-pong would instead terminate such a socket after 60 unsent pongs.
 */
const PONG_BUFFER_BYTES = 16 * 1024;

/**
 * Replies go to ws as UTF-8 Buffers sent as text frames: with ws's frame header (always a Buffer) every chunk of a
 * tick's corked write is then a Buffer, and Node's writev takes them as they are. With strings it reads each chunk
 * and its encoding name back from JS and copies the text in C++ (~2% of the broker's instructions per WebSocket
 * command, measured with callgrind), and ws measures each string once more (Buffer.byteLength).
 */
const TEXT_FRAME = { binary: false } as const;

/**
 * An open WebSocket. Sends go through ws; the socket under it is corked until the end of the tick so that replies
 * ready together (one Redis read answers a batch) leave in one write.
 */
export class WsConnection {
  readonly #ws: WebSocket;
  readonly #socket: Socket;
  #corked = false;

  /**
   * Takes `ws` as `handleUpgrade` gave it, over `socket`. A reader error (`onReaderError`: the frame stream broke the
   * protocol or a limit) closes the socket with the catalogue code and a reason naming it, before ws closes it with
   * the bare code.
   */
  constructor(
    ws: WebSocket,
    socket: Socket,
    limits: ReaderLimits,
    onReaderError: (error: SluiceError) => void,
  ) {
    this.#ws = ws;
    this.#socket = socket;
    // ws closes a socket whose receiver failed with the code alone (websocket.js receiverOnError), and has no public
    // hook that runs first; its Receiver, an EventEmitter kept in `_receiver` since ws 1.x, is the only place to
    // learn the error before that close (ws-check.ts checks this at start-up). Closing here first makes ws's own
    // close a no-op.
    const receiver = (ws as unknown as { _receiver?: EventEmitter })._receiver;
    receiver?.prependListener('error', (cause: WsReceiverError) => {
      const error = readerError(cause, limits);
      ws.close(closeCodeOf(error), closeReason(error));
      onReaderError(error);
    });
    // ws emits the same error on the WebSocket afterwards; an EventEmitter without an 'error' listener throws.
    ws.on('error', ignore);
    ws.on('ping', this.#onPing);
  }

  /** Whether data frames can still be sent: no close frame sent or received. */
  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Bytes sent but not yet taken by the kernel: grows while the peer does not read. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Sends a text frame; false (nothing sent) once the connection is closing. `written` is called once the frame
   * left for the kernel (ws's send callback).
   */
  send(text: string, written?: () => void): boolean {
    if (this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#corkUntilTickEnds();
    this.#ws.send(Buffer.from(text), TEXT_FRAME, written);
    return true;
  }

  /** Stops reading the peer's frames (ws's pause stops reading its socket): TCP then pushes back on the peer. */
  pause(): void {
    this.#ws.pause();
  }

  /** Reads the peer's frames again. */
  resume(): void {
    this.#ws.resume();
  }

  /** Sends a heartbeat ping. */
  ping(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
  }

  /** Starts the closing handshake; ws destroys the socket if the peer does not finish it within its closeTimeout. */
  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
  }

  /** Destroys the socket at once, without a close frame. */
  terminate(): void {
    this.#ws.terminate();
  }

  readonly #onPing = (payload: Buffer): void => {
    if (this.#ws.readyState === WebSocket.OPEN && this.#ws.bufferedAmount <= PONG_BUFFER_BYTES)
      this.#ws.pong(payload);
  };

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
}

/** ws has already closed the socket when it emits 'error' (its reader error was handled above). */
function ignore(): void {}
