// How many reply bytes one client (an HTTP connection or a WebSocket) and one token may have owed before the broker
// stops reading their requests: answers not yet taken by the client, plus requests running at their expected size.

/** The bounds; see SLUICE_CLIENT_MAX_PENDING_BYTES and SLUICE_TOKEN_MAX_PENDING_BYTES. */
export interface FlowLimits {
  readonly clientMaxPendingBytes: number;
  readonly tokenMaxPendingBytes: number;
}

/**
 * Requests a client whose reply sizes are not known yet may have running, as a share of its bound: the first
 * answer teaches the expected size (a client pipelining GETs of 4 MiB values gets 4 running, not all it sent;
 * one getting small replies gets as many as its other limits allow from its first answer on).
 */
const UNKNOWN_REPLY_SHARE = 4;

/**
 * Expected answer size from which a client's requests count as large for the pool (see Pool.pick): they go to the
 * connections that may carry large replies, never to the one kept for small ones.
 */
export const LARGE_REPLY_BYTES = 64 * 1024;

/** The answers of all clients of one token that are owed, and the clients waiting for them to be read. */
class TokenFlow {
  /** Bytes written to this token's clients and not yet taken by them, over all of them. */
  heldBytes = 0;
  /** Bytes this token's running requests are expected to bring: each client's running × its expected size. */
  runningBytes = 0;
  readonly waiting = new Set<ClientFlow>();
}

/** Hands out one TokenFlow per principal (the object protocol/auth made for a token: compared by identity only), forgotten with it. */
export class Flows {
  readonly limits: FlowLimits;
  readonly #tokens = new WeakMap<object, TokenFlow>();
  readonly #throttled: () => void;

  /** `throttled` is called each time a client that was reading is held back by a bound (for the metric). */
  constructor(limits: FlowLimits, throttled: () => void = () => {}) {
    this.limits = limits;
    this.#throttled = throttled;
  }

  /**
   * The flow of a new client of `principal`; `wake` is called when it may start requests again. `sendsMany`: the
   * client is a WebSocket, which usually sends many requests at once, so that its first ones count as large for
   * the pool until its answers say otherwise (an HTTP connection's first request counts as small).
   */
  client(principal: object, wake: () => void, sendsMany = false): ClientFlow {
    let token = this.#tokens.get(principal);
    if (token === undefined) {
      token = new TokenFlow();
      this.#tokens.set(principal, token);
    }
    return new ClientFlow(this.limits, token, wake, this.#throttled, sendsMany);
  }
}

/**
 * One client's reply bytes. Its transport calls `started` and `answered` around each request, asks `mayStart`
 * before starting another and, when refused, stops reading from the client until `wake` (or its own drain) says it
 * may go on. Counting is per answer, not per command: a few additions and a comparison per request.
 */
export class ClientFlow {
  readonly #limits: FlowLimits;
  readonly #token: TokenFlow;
  readonly #wake: () => void;
  readonly #throttled: () => void;
  readonly #sendsMany: boolean;
  /** Expected bytes of one answer: the first answer's, then an average of the recent ones (half weight to the newest). */
  #expectedBytes: number;
  #known = false;
  /** Requests started and not yet answered. */
  #running = 0;
  /** Bytes this client last reported as written and not yet taken (its share of the token's). */
  #held = 0;
  /** Whether the last mayStart said no (a throttle is counted once, when it begins). */
  #holding = false;

  constructor(
    limits: FlowLimits,
    token: TokenFlow,
    wake: () => void,
    throttled: () => void,
    sendsMany: boolean,
  ) {
    this.#limits = limits;
    this.#token = token;
    this.#wake = wake;
    this.#throttled = throttled;
    this.#sendsMany = sendsMany;
    this.#expectedBytes = limits.clientMaxPendingBytes / UNKNOWN_REPLY_SHARE;
  }

  /**
   * Whether the request just started should count as one with large replies when the pool picks its connection:
   * its client's recent answers were large, or are not known yet and more requests are running (pipelined HTTP, a
   * WebSocket's burst), so that a first burst does not land where small replies go.
   */
  get largeReplies(): boolean {
    return this.#known ? this.#expectedBytes >= LARGE_REPLY_BYTES : this.#sendsMany || this.#running > 1;
  }

  /**
   * Whether another request may start, with `buffered` bytes written to the client and not yet taken (its socket's
   * writableLength). A client with nothing running may always start one: the bounds slow a client down and never
   * stop it (nor can one client of a token that does not read lock out the others); a single large reply is
   * SLUICE_MAX_REPLY_BYTES's to refuse.
   */
  mayStart(buffered: number): boolean {
    const running = this.#running;
    if (running === 0) return this.#go();
    const token = this.#token;
    if (token.heldBytes + token.runningBytes > this.#limits.tokenMaxPendingBytes) {
      token.waiting.add(this);
      return this.#hold();
    }
    return buffered + running * this.#expectedBytes < this.#limits.clientMaxPendingBytes
      ? this.#go()
      : this.#hold();
  }

  /** A request started: the token counts its expected answer. */
  started(): void {
    this.#running++;
    this.#token.runningBytes += this.#expectedBytes;
  }

  /** A request was answered with `bytes` (the answer's size): the expected size moves halfway to it. */
  answered(bytes: number): void {
    const token = this.#token;
    const before = this.#running * this.#expectedBytes;
    this.#running--;
    this.#expectedBytes = this.#known ? (this.#expectedBytes + bytes) / 2 : bytes;
    this.#known = true;
    token.runningBytes += this.#running * this.#expectedBytes - before;
    this.#wakeToken(token, before - this.#running * this.#expectedBytes);
  }

  /**
   * Reports the bytes written to the client and not yet taken, after a write or a drain; when that brings the
   * token under its bound, the clients waiting on it are woken.
   */
  report(buffered: number): void {
    const token = this.#token;
    const change = buffered - this.#held;
    token.heldBytes += change;
    this.#held = buffered;
    this.#wakeToken(token, -change);
  }

  /** The client went away: its bytes and its running requests leave the token's count. */
  close(): void {
    const token = this.#token;
    token.waiting.delete(this);
    const running = this.#running * this.#expectedBytes;
    token.runningBytes -= running;
    this.#running = 0;
    this.report(0);
    this.#wakeToken(token, running);
  }

  /** Wakes the token's waiting clients when its count just went (by `freed` bytes) from over its bound to under. */
  #wakeToken(token: TokenFlow, freed: number): void {
    if (freed <= 0 || token.waiting.size === 0) return;
    const limit = this.#limits.tokenMaxPendingBytes;
    const now = token.heldBytes + token.runningBytes;
    if (now > limit || now + freed <= limit) return;
    const waiting = [...token.waiting];
    token.waiting.clear();
    for (const client of waiting) client.#wake();
  }

  #go(): true {
    this.#holding = false;
    return true;
  }

  #hold(): false {
    if (!this.#holding) {
      this.#holding = true;
      this.#throttled();
    }
    return false;
  }
}
