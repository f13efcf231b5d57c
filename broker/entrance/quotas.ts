// Per-token (or per-tenant) quotas, checked at the entrance before any work is queued: requests per second (a token
// bucket with a burst), commands per second, requests in flight, and open sockets/streams. No timer anywhere:
// buckets refill from the clock when they are next looked at.
import { type Clock, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { Principal } from '../protocol/auth.js';
import { QUOTA_FIELDS, type QuotaSpec, sameQuota } from '../protocol/quota-spec.js';

import type { QuotaKind } from '../telemetry.js';

export type { QuotaKind };

/** Whole-broker limits; 0 = none. The settings' defaults have the same shape (SLUICE_TOKEN_*). */
export type QuotaLimits = { readonly [K in (typeof QUOTA_FIELDS)[number]]: number };

/**
 * This process's part of every quota when the broker runs SLUICE_WORKERS processes: worker `index` of `count`.
 * Each limit is split exactly: worker i gets ⌊q/N⌋, plus 1 for the first q mod N workers, so the parts add up to
 * the quota; a rate follows its bucket's part. Counts are never shared between workers, so no message crosses
 * processes per request.
 */
export interface WorkerShare {
  readonly index: number;
  readonly count: number;
}

export interface QuotaOptions {
  /** The tokens' quotas by quota key (Authenticator.quotas); keys without one take the defaults. */
  readonly quotas: ReadonlyMap<string, QuotaSpec | undefined>;
  /** SLUICE_TOKEN_REQUESTS_PER_SECOND, _BURST, _COMMANDS_PER_SECOND, _MAX_INFLIGHT, _MAX_SOCKETS (0 = none). */
  readonly defaults: QuotaLimits;
  readonly share?: WorkerShare | undefined;
  /** Where buckets read the time; the real clock by default. */
  readonly clock?: Clock | undefined;
  /** Called for every refusal (metrics); `tenant` is the caller's tenant or ''. */
  readonly refused?: ((kind: QuotaKind, principal: Principal) => void) | undefined;
}

/** The settings that give each default, for messages. */
const SETTINGS: Record<keyof QuotaLimits, string> = {
  requestsPerSecond: 'SLUICE_TOKEN_REQUESTS_PER_SECOND',
  burst: 'SLUICE_TOKEN_BURST',
  commandsPerSecond: 'SLUICE_TOKEN_COMMANDS_PER_SECOND',
  inflight: 'SLUICE_TOKEN_MAX_INFLIGHT',
  sockets: 'SLUICE_TOKEN_MAX_SOCKETS',
};

/** The part of `total` that falls to worker `index` of `count` (exact: the parts add up to `total`). */
export function shareOf(total: number, share: WorkerShare): number {
  return Math.floor(total / share.count) + (share.index < total % share.count ? 1 : 0);
}

/** The limits that apply to a caller: its tokens-file quota, field by field, over the settings' defaults. */
export function effectiveLimits(
  spec: QuotaSpec | undefined,
  defaults: QuotaLimits,
): { limits: QuotaLimits; from: Record<keyof QuotaLimits, 'file' | 'setting'> } {
  const limits: Record<string, number> = {};
  const from: Record<string, 'file' | 'setting'> = {};
  for (const field of QUOTA_FIELDS) {
    const given = spec?.[field];
    limits[field] = given ?? defaults[field];
    from[field] = given === undefined ? 'setting' : 'file';
  }
  // The burst goes with the rate it bounds: a file rate without a burst gets one second of it, not the setting's.
  if (from['requestsPerSecond'] === 'file' && from['burst'] === 'setting') {
    limits['burst'] = limits['requestsPerSecond']!;
    from['burst'] = 'file';
  }
  if (limits['burst'] === 0) limits['burst'] = limits['requestsPerSecond']!;
  return { limits: limits as QuotaLimits, from: from as Record<keyof QuotaLimits, 'file' | 'setting'> };
}

/**
 * The counts of one token (or tenant) in this process. Buckets hold tokens as fractions, refilled lazily; the
 * commands bucket holds one second of commandsPerSecond and may go below zero by a pipeline larger than that (it
 * is let in on a full bucket, and the next requests wait for the debt to be paid).
 */
export class QuotaAccount {
  /** Requests in flight / sockets open, counted in this process. */
  inflight = 0;
  sockets = 0;
  /** The spec the limits were computed from (compared when a reload brings a principal with another). */
  spec: QuotaSpec | undefined;
  /** Per-process limits; 0 = none, except that a worker's part of a real limit may be 0 (it then refuses). */
  requestRate = 0;
  requestCap = 0;
  commandRate = 0;
  commandCap = 0;
  maxInflight = 0;
  maxSockets = 0;
  /** Which limits are set at all (false: unlimited). */
  limitsRequests = false;
  limitsCommands = false;
  limitsInflight = false;
  limitsSockets = false;
  requestTokens = 0;
  commandTokens = 0;
  /** The clock's time of the last refill. */
  refilled: number;
  /** Where each limit comes from and its whole-broker value, for messages. */
  limits: QuotaLimits = { requestsPerSecond: 0, burst: 0, commandsPerSecond: 0, inflight: 0, sockets: 0 };
  from: Record<keyof QuotaLimits, 'file' | 'setting'> | undefined;
  /**
   * The last refusal, given again while its kind and Retry-After stay the same: a caller far over its quota is
   * refused many times a second, and making an Error (its stack) costs microseconds.
   */
  lastRefusal: SluiceError | undefined;
  lastRefusalKind: QuotaKind | undefined;

  constructor(now: number) {
    this.refilled = now;
  }

  /** Whether any limit applies: an account without one costs a property read per request. */
  get limited(): boolean {
    return this.limitsRequests || this.limitsCommands || this.limitsInflight || this.limitsSockets;
  }

  /** Sets the limits (at creation, and at once when a reload changed them); counts and buckets carry over. */
  apply(spec: QuotaSpec | undefined, defaults: QuotaLimits, share: WorkerShare): void {
    const { limits, from } = effectiveLimits(spec, defaults);
    const first = this.from === undefined;
    this.lastRefusal = undefined;
    this.spec = spec;
    this.limits = limits;
    this.from = from;
    this.limitsRequests = limits.requestsPerSecond > 0;
    this.requestCap = this.limitsRequests ? shareOf(limits.burst, share) : 0;
    this.requestRate = this.limitsRequests ? (limits.requestsPerSecond * this.requestCap) / limits.burst : 0;
    this.limitsCommands = limits.commandsPerSecond > 0;
    this.commandCap = this.limitsCommands ? shareOf(limits.commandsPerSecond, share) : 0;
    this.commandRate = this.commandCap;
    this.limitsInflight = limits.inflight > 0;
    this.maxInflight = shareOf(limits.inflight, share);
    this.limitsSockets = limits.sockets > 0;
    this.maxSockets = shareOf(limits.sockets, share);
    // A new account starts with full buckets; a changed one keeps what it had, within the new sizes.
    this.requestTokens = first ? this.requestCap : Math.min(this.requestTokens, this.requestCap);
    this.commandTokens = first ? this.commandCap : Math.min(this.commandTokens, this.commandCap);
  }

  refill(now: number): void {
    const elapsed = now - this.refilled;
    if (elapsed <= 0) return;
    this.refilled = now;
    if (this.limitsRequests)
      this.requestTokens = Math.min(
        this.requestCap,
        this.requestTokens + (elapsed * this.requestRate) / 1000,
      );
    if (this.limitsCommands)
      this.commandTokens = Math.min(
        this.commandCap,
        this.commandTokens + (elapsed * this.commandRate) / 1000,
      );
  }

  /** One request leaves (answered, or its caller gone). */
  leave(): void {
    this.inflight--;
  }

  /** One socket or stream closed. */
  closeSocket(): void {
    this.sockets--;
  }

  /** Where a limit is set, for messages: the tokens-file field or the setting. */
  source(field: keyof QuotaLimits): string {
    return this.from?.[field] === 'file' ? `quota.${field} in the tokens file` : SETTINGS[field];
  }
}

/** Seconds until `missing` tokens have come at `rate` per second: at least 1, as Retry-After takes whole seconds. */
function secondsFor(missing: number, rate: number): number {
  return rate > 0 ? Math.max(1, Math.ceil(missing / rate)) : 1;
}

/**
 * The quota accounts of this process, one per quota key (a token, or a tenant shared by its tokens); callers come
 * from the tokens (file and settings), never from requests, so the map is bounded by them. `forget` drops the
 * accounts of keys gone after a reload.
 */
export class Quotas {
  readonly #defaults: QuotaLimits;
  readonly #share: WorkerShare;
  readonly #clock: Clock;
  readonly #refused: ((kind: QuotaKind, principal: Principal) => void) | undefined;
  readonly #accounts = new Map<string, QuotaAccount>();
  #specs: ReadonlyMap<string, QuotaSpec | undefined>;

  constructor(options: QuotaOptions) {
    this.#specs = options.quotas;
    this.#defaults = options.defaults;
    this.#share = options.share ?? { index: 0, count: 1 };
    this.#clock = options.clock ?? realClock;
    this.#refused = options.refused;
  }

  /** The caller's account, made on first use with its key's quota. */
  account(principal: Principal): QuotaAccount {
    let account = this.#accounts.get(principal.quotaKey);
    if (account === undefined) {
      account = new QuotaAccount(this.#clock.now());
      account.apply(this.#specs.get(principal.quotaKey), this.#defaults, this.#share);
      this.#accounts.set(principal.quotaKey, account);
    }
    return account;
  }

  /**
   * After a reload of the tokens (Authenticator.quotas): the accounts of keys still present take their new quota at
   * once (counts and buckets carry over); those of removed tokens and tenants are forgotten.
   */
  update(specs: ReadonlyMap<string, QuotaSpec | undefined>): void {
    this.#specs = specs;
    for (const [key, account] of this.#accounts) {
      if (!specs.has(key)) this.#accounts.delete(key);
      else if (!sameQuota(account.spec, specs.get(key)))
        account.apply(specs.get(key), this.#defaults, this.#share);
    }
  }

  /** Accounts held (bounded by the known tokens and tenants). */
  get size(): number {
    return this.#accounts.size;
  }

  /**
   * Lets a request in, counting `commands` of it now (0 when they are not known before its body is parsed; see
   * `commands`), or says which quota it is over. Admitted, it is in flight until `account.leave()`.
   */
  enter(
    principal: Principal,
    commands: number,
    account = this.account(principal),
  ): QuotaAccount | SluiceError {
    if (!account.limited) {
      account.inflight++;
      return account;
    }
    if (account.limitsInflight && account.inflight >= account.maxInflight)
      return this.#refuse(principal, 'inflight', account, 1);
    if (account.limitsRequests || (account.limitsCommands && commands > 0)) {
      account.refill(this.#clock.now());
      if (account.limitsRequests && account.requestTokens < 1)
        return this.#refuse(
          principal,
          'requests',
          account,
          secondsFor(1 - account.requestTokens, account.requestRate),
        );
      if (commands > 0 && account.limitsCommands) {
        const refusal = this.#commandRefusal(principal, account, commands);
        if (refusal) return refusal;
      }
      if (account.limitsRequests) account.requestTokens -= 1;
    }
    account.inflight++;
    return account;
  }

  /** Counts the `count` commands of an admitted request once its body is parsed, or refuses it (commands/s). */
  commands(principal: Principal, account: QuotaAccount, count: number): SluiceError | undefined {
    if (!account.limitsCommands || count === 0) return undefined;
    account.refill(this.#clock.now());
    return this.#commandRefusal(principal, account, count);
  }

  /** Opens a socket or stream for the caller (until `account.closeSocket()`), or refuses it over its quota. */
  openSocket(principal: Principal): QuotaAccount | SluiceError {
    const account = this.account(principal);
    if (account.limitsSockets && account.sockets >= account.maxSockets)
      return this.#refuse(principal, 'sockets', account, 1);
    account.sockets++;
    return account;
  }

  /** Takes `count` commands from the bucket (a full bucket lets in a pipeline larger than itself), or refuses. */
  #commandRefusal(principal: Principal, account: QuotaAccount, count: number): SluiceError | undefined {
    const needed = Math.min(count, account.commandCap);
    if (account.commandTokens < needed || account.commandCap === 0) {
      return this.#refuse(
        principal,
        'commands',
        account,
        secondsFor(needed - account.commandTokens, account.commandRate),
      );
    }
    account.commandTokens -= count;
    return undefined;
  }

  #refuse(
    principal: Principal,
    kind: QuotaKind,
    account: QuotaAccount,
    retryAfterSeconds: number,
  ): SluiceError {
    this.#refused?.(kind, principal);
    const last = account.lastRefusal;
    if (
      last !== undefined &&
      account.lastRefusalKind === kind &&
      last.retryAfterSeconds === retryAfterSeconds
    )
      return last;
    const refusal = this.#refusal(principal, kind, account, retryAfterSeconds);
    account.lastRefusal = refusal;
    account.lastRefusalKind = kind;
    return refusal;
  }

  #refusal(
    principal: Principal,
    kind: QuotaKind,
    account: QuotaAccount,
    retryAfterSeconds: number,
  ): SluiceError {
    const { limits } = account;
    const tenant = principal.tenant;
    const who = tenant === '' ? 'token' : `tenant ${tenant}`;
    const workers = this.#share.count;
    /** Under several workers, what this one holds of the limit (the count it refused at is its part). */
    const part = (held: number, of: string) =>
      workers === 1 ? '' : `; this worker holds ${held} of the ${of}, split over ${workers} workers`;
    switch (kind) {
      case 'requests':
        return new SluiceError(
          'SLUICE_ERR_QUOTA_REQUESTS',
          `ERR this ${who} is over its quota of ${limits.requestsPerSecond} requests per second (burst ${limits.burst}; ${account.source('requestsPerSecond')}${part(account.requestCap, 'burst')}); retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
      case 'commands':
        return new SluiceError(
          'SLUICE_ERR_QUOTA_COMMANDS',
          `ERR this ${who} is over its quota of ${limits.commandsPerSecond} commands per second (${account.source('commandsPerSecond')}${part(account.commandCap, 'commands per second')}); retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
      case 'inflight':
        return new SluiceError(
          'SLUICE_ERR_QUOTA_INFLIGHT',
          `ERR this ${who} is at its quota of ${limits.inflight} requests in flight (${account.source('inflight')}${part(account.maxInflight, 'requests in flight')}); this one was not run`,
          { retryAfterSeconds },
        );
      case 'sockets':
        return new SluiceError(
          'SLUICE_ERR_QUOTA_SOCKETS',
          `ERR this ${who} is at its quota of ${limits.sockets} WebSockets and SSE streams open (${account.source('sockets')}${part(account.maxSockets, 'sockets')})`,
          { retryAfterSeconds },
        );
    }
  }
}
