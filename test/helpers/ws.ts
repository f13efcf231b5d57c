// A WebSocket test peer (the `ws` package as the client): open /ws, send frames, await replies by id, pushes, the close.
import type { IncomingMessage } from 'node:http';
import { type ClientOptions, WebSocket } from 'ws';
import { TOKEN } from './broker.js';

/** A refused upgrade: the HTTP status and parsed JSON body. */
export interface Refusal {
  readonly status: number;
  readonly body: { error?: string; code?: string } | undefined;
}

export interface OpenOptions {
  /** Bearer token sent as a header; `null` sends none. Default: the admin TOKEN. */
  readonly token?: string | null;
  /** Query string after `?` (e.g. `encoding=base64` or `_token=…`). */
  readonly query?: string;
  /** ws's client option: offer permessage-deflate (off by default here). */
  readonly perMessageDeflate?: ClientOptions['perMessageDeflate'];
}

/** The ws:// URL of a broker's /ws. */
export function wsUrl(brokerUrl: string, query = ''): string {
  return `${brokerUrl.replace(/^http/, 'ws')}/ws${query ? `?${query}` : ''}`;
}

/** Tries to upgrade; resolves to an open socket or to the HTTP refusal. */
export function connect(brokerUrl: string, options: OpenOptions = {}): Promise<WebSocket | Refusal> {
  const token = options.token === undefined ? TOKEN : options.token;
  const ws = new WebSocket(wsUrl(brokerUrl, options.query), {
    headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    perMessageDeflate: options.perMessageDeflate ?? false,
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: Refusal['body'];
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', reject);
  });
}

/** A parsed frame from the broker. */
export type Frame = Record<string, unknown>;

/** An open socket with helpers: `request` awaits the reply with the same id, `pushes` collects id-less frames. */
export class Peer {
  readonly ws: WebSocket;
  readonly pushes: Frame[] = [];
  readonly frames: Frame[] = [];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The close code once the socket closed; undefined while open. */
  closeCode: number | undefined;
  readonly #waiting = new Map<unknown, (frame: Frame) => void>();
  #pushWaiters: (() => void)[] = [];
  #nextId = 1;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      this.frames.push(frame);
      if ('id' in frame) {
        const waiter = this.#waiting.get(frame.id);
        if (waiter) {
          this.#waiting.delete(frame.id);
          waiter(frame);
        }
      } else {
        this.pushes.push(frame);
        const waiters = this.#pushWaiters;
        this.#pushWaiters = [];
        for (const w of waiters) w();
      }
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeCode = code;
        // A request still waiting when the socket closes is answered `{closed: code}` rather than never.
        for (const waiter of this.#waiting.values()) waiter({ closed: code });
        this.#waiting.clear();
        resolve({ code, reason: reason.toString('utf8') });
      }),
    );
    // A socket error is followed by 'close', which is what tests assert on.
    ws.on('error', () => {});
  }

  /** Opens a socket as `connect` does, failing the test on a refusal. */
  static async open(brokerUrl: string, options: OpenOptions = {}): Promise<Peer> {
    const ws = await connect(brokerUrl, options);
    if (!(ws instanceof WebSocket)) throw new Error(`upgrade refused: ${JSON.stringify(ws)}`);
    return new Peer(ws);
  }

  /** A fresh numeric id. */
  id(): number {
    return this.#nextId++;
  }

  /**
   * Sends `frame` (an `id` is added when missing) and resolves with the reply that echoes its id, with
   * `{closed: code}` if the socket closes first, or with `{hung: true}` after `hangMs` when given (a lost reply).
   */
  request(frame: Frame, hangMs?: number): Promise<Frame> {
    const withId = 'id' in frame ? frame : { id: this.id(), ...frame };
    const reply = this.reply(withId.id);
    this.ws.send(JSON.stringify(withId));
    if (hangMs === undefined) return reply;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<Frame>((resolve) => {
      timer = setTimeout(() => resolve({ hung: true }), hangMs);
    });
    return Promise.race([reply, hung]).finally(() => clearTimeout(timer));
  }

  /** Resolves with the next frame carrying `id`. */
  reply(id: unknown): Promise<Frame> {
    return new Promise((resolve) => this.#waiting.set(id, resolve));
  }

  /** Resolves once `count` pushes have arrived. */
  async waitPushes(count: number): Promise<Frame[]> {
    while (this.pushes.length < count) await new Promise<void>((r) => this.#pushWaiters.push(r));
    return this.pushes;
  }

  /** Closes and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}
