// The `upstash-sync-token` header: a fresh value on every response, and, where positions are tracked, a signed
// position of the primary's replication stream that makes read-your-writes hold across regions (issue 20).
import { createHmac, randomBytes } from 'node:crypto';
import { DEFAULT_TENANT, type Principal } from './auth.js';
import { laterPosition, type RequestSync, type SyncPosition } from '../redis/replication.js';

/**
 * Token format, version 1: `s1.<replid>.<offset>.<mac>.<nonce>`.
 * - `replid`: the primary's replication ID (40 hex), `offset`: its replication offset in decimal;
 * - `mac`: the first 16 bytes of HMAC-SHA256(secret, `s1.<replid>.<offset>`), base64url (22 characters);
 * - `nonce`: `<random process id>-<counter>`, outside the MAC: it makes every response's token differ (the client's
 *   own tests require it, docs/rest-api.md) while the MAC of one position is computed once and remembered.
 * A response with no position to carry gets the bare nonce, as before positions existed.
 */
const VERSION = 's1';
const MAC_BYTES = 16;
/** Longest header value looked at: a longer one is not a token of ours (and is counted as bad). */
const MAX_TOKEN_CHARS = 200;
/** Positions whose MAC is remembered; the cache is emptied when it is full (positions move on). */
const MAC_CACHE = 1024;
const TOKEN = /^s1\.([0-9a-f]{40})\.(0|[1-9]\d{0,15})\.([A-Za-z0-9_-]{22})\.[0-9a-z-]{1,40}$/;
const NONCE = /^[0-9a-f]{12}-[0-9a-z]{1,13}$/;

/** What an incoming token says: a verified position, nothing (absent, empty, a bare nonce), or a bad token. */
export type ReadToken = { readonly position: SyncPosition } | 'none' | 'bad';

export interface SyncTokensOptions {
  /** SLUICE_SYNC_SECRET, or the process's random one (shared with its workers). */
  readonly secret: string | Buffer;
  /**
   * Whether responses carry positions (a replica is configured, or a shared secret: brokers of a deployment read
   * each other's tokens). Otherwise every token is a bare nonce, as before read regions.
   */
  readonly positions: boolean;
  /** SLUICE_SYNC_PER_TOKEN_FLOOR: the newest position handed to an auth token floors its reads. */
  readonly perTokenFloor: boolean;
}

/** Issues and reads sync tokens for one process. */
export class SyncTokens {
  /** Whether tokens carry positions (see SyncTokensOptions.positions). */
  readonly positions: boolean;
  readonly #secret: Buffer;
  readonly #prefix = randomBytes(6).toString('hex');
  #counter = 0;
  /** MAC of `s1.<replid>.<offset>` for positions issued or verified lately. */
  #macs = new Map<string, string>();
  /** Signed parts (`s1.<replid>.<offset>.<mac>`) verified lately, with their position: a repeated token costs a lookup. */
  #verified = new Map<string, SyncPosition>();
  readonly #floors: WeakMap<Principal, SyncPosition> | undefined;

  constructor(options: SyncTokensOptions) {
    this.#secret = Buffer.isBuffer(options.secret) ? options.secret : Buffer.from(options.secret, 'utf8');
    this.positions = options.positions;
    this.#floors = options.perTokenFloor && options.positions ? new WeakMap() : undefined;
  }

  /** A fresh nonce: unique in the process, and across processes by its random prefix. */
  #nonce(): string {
    return `${this.#prefix}-${(++this.#counter).toString(36)}`;
  }

  /** The token of a response at `position` (a bare nonce without one); a new value on every call. */
  issue(position?: SyncPosition): string {
    if (position === undefined || !this.positions) return this.#nonce();
    const claim = `${VERSION}.${position.replid}.${position.offset}`;
    return `${claim}.${this.#macOf(claim)}.${this.#nonce()}`;
  }

  /** Reads an incoming header value. Never throws; anything that does not verify is 'bad'. */
  read(value: string | string[] | undefined): ReadToken {
    if (value === undefined || value === '') return 'none';
    if (typeof value !== 'string' || value.length > MAX_TOKEN_CHARS) return 'bad';
    if (!value.startsWith('s1.')) return NONCE.test(value) ? 'none' : 'bad';
    const signed = value.slice(0, value.lastIndexOf('.'));
    const known = this.#verified.get(signed);
    if (known !== undefined) return { position: known };
    const match = TOKEN.exec(value);
    if (match === null) return 'bad';
    const [, replid, offsetText, mac] = match as unknown as [string, string, string, string];
    const claim = `${VERSION}.${replid}.${offsetText}`;
    const expected = this.#macOf(claim, false);
    if (!sameText(expected, mac)) return 'bad';
    this.#remember(claim, expected);
    const position = { replid, offset: Number(offsetText) };
    if (this.#verified.size >= MAC_CACHE) this.#verified = new Map();
    this.#verified.set(signed, position);
    return { position };
  }

  /**
   * What a request starts with: the floor from its token (and its auth token's newest position, when on), or
   * undefined when positions are off (nothing to route on) or the caller is a tenant's (its own Redis: positions are
   * the broker's own primary's).
   */
  begin(header: string | string[] | undefined, principal: Principal): RequestSync | undefined {
    if (!this.positions || principal.tenant !== DEFAULT_TENANT) return undefined;
    const read = this.read(header);
    const floor = this.#floors?.get(principal);
    const carried = header !== undefined && header !== '';
    if (typeof read === 'string') return { floor, badToken: read === 'bad', carried, result: undefined };
    return { floor: laterPosition(floor, read.position), badToken: false, carried, result: undefined };
  }

  /** Where the answer of a request leaves its caller: the primary after its writes, else its floor. */
  end(sync: RequestSync | undefined, principal: Principal): SyncPosition | undefined {
    if (sync === undefined) return undefined;
    const position = laterPosition(sync.floor, sync.result);
    const floors = this.#floors;
    if (floors !== undefined && position !== undefined && sync.result !== undefined) {
      const known = floors.get(principal);
      if (known === undefined || known.replid !== position.replid || known.offset < position.offset)
        floors.set(principal, position);
    }
    return position;
  }

  #macOf(claim: string, remember = true): string {
    const cached = this.#macs.get(claim);
    if (cached !== undefined) return cached;
    const mac = createHmac('sha256', this.#secret)
      .update(claim)
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('base64url');
    if (remember) this.#remember(claim, mac);
    return mac;
  }

  #remember(claim: string, mac: string): void {
    if (this.#macs.size >= MAC_CACHE) this.#macs = new Map();
    this.#macs.set(claim, mac);
  }
}

/**
 * Whether two strings of the same length are equal, in a time that does not depend on where they differ (the
 * attacker chooses `given`: a comparison that stops early would tell how much of a forged MAC is right). Cheaper
 * than crypto.timingSafeEqual, which needs two Buffers per call.
 */
function sameText(expected: string, given: string): boolean {
  if (expected.length !== given.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}

/** A random secret for a process (and its workers) when SLUICE_SYNC_SECRET is not set. */
export function randomSyncSecret(): string {
  return randomBytes(32).toString('hex');
}
