// Bearer tokens and their rights: who is calling, and whether they may run a command. One code path for every transport.
import { hash, timingSafeEqual } from 'node:crypto';
import { redisUrlProblem } from '../config.js';
import { SluiceError } from '../errors.js';
import type { CommandInfo } from './command-table.js';
import { parseQuotaSpec, type QuotaSpec, sameQuota } from './quota-spec.js';

/** `admin`: everything, /monitor and admin-flagged commands included. `readwrite`: all but admin commands. `readonly`: reads. */
export type Right = 'admin' | 'readwrite' | 'readonly';
export const RIGHTS: readonly Right[] = ['admin', 'readwrite', 'readonly'];

/** A caller, as identified by its token. Never carries the token itself. */
export interface Principal {
  /** A name for logs and metrics (never the token). */
  readonly name: string;
  readonly right: Right;
  /** When set, only these commands (lower case) are allowed. */
  readonly allow: ReadonlySet<string> | undefined;
  /** Commands (lower case) never allowed. */
  readonly deny: ReadonlySet<string> | undefined;
  /** The tenant whose Redis runs its commands; DEFAULT_TENANT ('') for the broker's own Redis. A metric label. */
  readonly tenant: string;
  /**
   * Whose quota its requests count against: one key per token (stable across reloads of the tokens file), or one
   * per tenant, shared by its tokens. Never shown: it derives from the token's digest.
   */
  readonly quotaKey: string;
}

/** The tenant of tokens without one: the broker's own Redis (SLUICE_REDIS_URL). */
export const DEFAULT_TENANT = '';

/** One token and what it may do. */
export interface TokenEntry {
  readonly token: string;
  readonly name: string;
  readonly right: Right;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /** The tenant it belongs to, with that tenant's Redis; absent: the broker's own Redis. */
  readonly tenant?: { readonly name: string; readonly redisUrl: string };
  /** Its quota (of its tenant, when it has one); the SLUICE_TOKEN_* defaults fill what it leaves out. */
  readonly quota?: QuotaSpec;
}

/** Commands a read-only caller may run although Redis does not flag them `readonly`. */
const READONLY_EXTRAS = new Set(['ping', 'echo']);

function digest(token: string): Buffer {
  // crypto.hash (Node ≥ 20.12) is the one-shot form: no Hash object per request.
  return hash('sha256', token, 'buffer');
}

/**
 * What a reload changed: callers that lost their token — or whose token moved to another tenant or tenant Redis, as
 * their sockets belong to the old one — and callers whose token now has other rights.
 */
export interface TokensChange {
  readonly removed: readonly Principal[];
  /** Old principal → the one that replaces it (same token and tenant, other rights). */
  readonly changed: ReadonlyMap<Principal, Principal>;
}

/** The quota key of an entry whose token has the digest `d`. */
function quotaKeyOf(e: TokenEntry, d: Buffer): string {
  return e.tenant ? `tenant:${e.tenant.name}` : `token:${d.toString('base64url', 0, 12)}`;
}

function principalOf(e: TokenEntry, d: Buffer): Principal {
  return {
    name: e.name,
    right: e.right,
    allow: e.allow ? new Set(e.allow.map((c) => c.toLowerCase())) : undefined,
    deny: e.deny ? new Set(e.deny.map((c) => c.toLowerCase())) : undefined,
    tenant: e.tenant?.name ?? DEFAULT_TENANT,
    quotaKey: quotaKeyOf(e, d),
  };
}

/** An entry's identity beyond its token: two entries with the same key give the same principal. */
function entryKey(e: TokenEntry): string {
  return JSON.stringify([e.name, e.right, e.allow, e.deny, e.tenant]);
}

/** Looks tokens up by their SHA-256 and compares digests in constant time. The set of tokens may be replaced (reload). */
export class Authenticator {
  /** `tenant`: the entry's tenant and its Redis URL as JSON, to tell a change of rights from a move. */
  #entries: { digest: Buffer; key: string; principal: Principal; tenant: string }[] = [];
  /** Moves on every replace(): a connection's remembered caller is trusted only within one generation. */
  #generation = 0;
  /** The quota of each quota key (a token's own, or its tenant's); undefined where the entries give none. */
  #quotas = new Map<string, QuotaSpec | undefined>();

  constructor(entries: readonly TokenEntry[]) {
    this.replace(entries);
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * Takes a new set of tokens at once. A token whose entry did not change keeps its principal (open sockets, reply
   * flows and remembered callers go on); the answer lists the principals that went away or changed.
   */
  replace(entries: readonly TokenEntry[]): TokensChange {
    const before = new Map(this.#entries.map((e) => [e.digest.toString('hex'), e]));
    const changed = new Map<Principal, Principal>();
    const removed: Principal[] = [];
    this.#entries = entries.map((e) => {
      const d = digest(e.token);
      const key = entryKey(e);
      const old = before.get(d.toString('hex'));
      before.delete(d.toString('hex'));
      if (old && old.key === key) return old;
      const principal = principalOf(e, d);
      if (old && JSON.stringify(e.tenant) === old.tenant) changed.set(old.principal, principal);
      else if (old) removed.push(old.principal);
      return { digest: d, key, principal, tenant: JSON.stringify(e.tenant) };
    });
    this.#generation++;
    for (const gone of before.values()) removed.push(gone.principal);
    const quotas = new Map<string, QuotaSpec | undefined>();
    for (const { principal } of this.#entries) quotas.set(principal.quotaKey, undefined);
    entries.forEach((e, i) => {
      if (e.quota) quotas.set(this.#entries[i]!.principal.quotaKey, e.quota);
    });
    this.#quotas = quotas;
    return { removed, changed };
  }

  /** Every quota key with its quota from the tokens (entrance/quotas.ts reads it at start and after each reload). */
  get quotas(): ReadonlyMap<string, QuotaSpec | undefined> {
    return this.#quotas;
  }

  /** The tenants the tokens name, with their Redis URLs (one per tenant: parseTokensFile checks they agree). */
  static tenantsOf(entries: readonly TokenEntry[]): Map<string, string> {
    const tenants = new Map<string, string>();
    for (const e of entries) if (e.tenant) tenants.set(e.tenant.name, e.tenant.redisUrl);
    return tenants;
  }

  /** The caller for a token, or a 401 error. Every entry is compared, so timing does not reveal which matched. */
  identify(token: string | undefined): Principal | SluiceError {
    if (token === undefined || token === '') {
      return new SluiceError('SLUICE_ERR_AUTH_MISSING', 'WRONGPASS invalid or missing auth token');
    }
    const given = digest(token);
    let found: Principal | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, given)) found = entry.principal;
    }
    return found ?? new SluiceError('SLUICE_ERR_AUTH_INVALID', 'WRONGPASS invalid or missing auth token');
  }
}

/** Whether the caller may run a command. `name` is the lower-case command name; `info` its (sub)command entry. */
export function permits(principal: Principal, name: string, info: CommandInfo | undefined): boolean {
  if (principal.deny?.has(name)) return false;
  if (principal.allow && !principal.allow.has(name)) return false;
  switch (principal.right) {
    case 'admin':
      return true;
    case 'readwrite':
      return !info?.flags.has('admin');
    case 'readonly':
      if (READONLY_EXTRAS.has(name)) return true;
      return info?.flags.has('readonly') === true && !info.flags.has('admin');
  }
}

/** The streams a caller can open besides commands: SSE (and WebSocket) subscriptions, and MONITOR. */
export type StreamCommand = 'subscribe' | 'psubscribe' | 'monitor';

function streamInfo(name: StreamCommand, flags: readonly string[]): CommandInfo {
  return { name, arity: name === 'monitor' ? 1 : -2, flags: new Set(flags), subcommands: undefined };
}

// Fixed entries, so the check needs no command table: listening changes no data, so it counts as a read (read-only
// tokens may subscribe); MONITOR shows every command of every client, so it keeps Redis's own `admin` flag.
const STREAM_INFO: Readonly<Record<StreamCommand, CommandInfo>> = {
  subscribe: streamInfo('subscribe', ['pubsub', 'readonly']),
  psubscribe: streamInfo('psubscribe', ['pubsub', 'readonly']),
  monitor: streamInfo('monitor', ['admin']),
};

/** Whether the caller may open a stream: subscribe/psubscribe with any right, monitor with `admin`; allow/deny apply. */
export function permitsStream(principal: Principal, command: StreamCommand): boolean {
  return permits(principal, command, STREAM_INFO[command]);
}

/** The Redis-style refusal for a command the caller may not run. */
export function noPermission(name: string): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_AUTH_NOPERM',
    `NOPERM this user has no permissions to run the '${name}' command`,
  );
}

/** Keys a tokens-file entry may have; anything else is refused (a misspelt `alow` must not widen a token's rights). */
const ENTRY_KEYS = ['token', 'name', 'right', 'allow', 'deny', 'tenant', 'redisUrl', 'quota'];

/** A tenant name: it becomes a metric label, so a short, plain word. `default` is the broker's own Redis. */
const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

/**
 * Parses a tokens file: `{"tokens":[{"token":"…","name":"…","right":"readonly|readwrite|admin","allow":[…],"deny":[…],
 * "tenant":"…","redisUrl":"redis://…","quota":{…}}]}` (quota: quota-spec.ts; one per tenant, shared by its tokens).
 * Returns the entries, or every problem found.
 */
export function parseTokensFile(textContent: string): { entries: TokenEntry[] } | { problems: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(textContent);
  } catch (error) {
    return { problems: [`tokens file is not valid JSON: ${(error as Error).message}`] };
  }
  const list = (doc as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) return { problems: ['tokens file: expected an object {"tokens": [ … ]}'] };
  const problems: string[] = [];
  const entries: TokenEntry[] = [];
  const seen = new Set<string>();
  /** Tenant name → where its Redis URL was first given. */
  const tenants = new Map<string, { redisUrl: string; where: string }>();
  /** Tenant name → its quota and where it was first given. */
  const tenantQuotas = new Map<string, { quota: QuotaSpec; where: string }>();
  list.forEach((item: unknown, index: number) => {
    const where = `tokens file: tokens[${index}]`;
    if (typeof item !== 'object' || item === null) {
      problems.push(`${where}: expected an object`);
      return;
    }
    const fields = item as Record<string, unknown>;
    const { token, name, right, allow, deny, tenant, redisUrl, quota } = fields;
    for (const key of Object.keys(fields))
      if (!ENTRY_KEYS.includes(key))
        problems.push(`${where}: unknown key ${JSON.stringify(key)} (expected ${ENTRY_KEYS.join(', ')})`);
    if (typeof token !== 'string' || token.length < 8)
      problems.push(`${where}.token: expected a string of 8 or more characters`);
    if (typeof token === 'string' && seen.has(token))
      problems.push(`${where}.token: the same token appears twice`);
    if (!RIGHTS.includes(right as Right))
      problems.push(`${where}.right: expected one of ${RIGHTS.join(', ')}, got ${JSON.stringify(right)}`);
    if (name !== undefined && typeof name !== 'string') problems.push(`${where}.name: expected a string`);
    for (const [key, value] of [
      ['allow', allow],
      ['deny', deny],
    ] as const) {
      if (
        value !== undefined &&
        !(Array.isArray(value) && value.every((c) => typeof c === 'string' && c !== ''))
      ) {
        problems.push(`${where}.${key}: expected an array of command names`);
      }
    }
    const tenantProblems = tenantProblemsOf(where, tenant, redisUrl, tenants);
    problems.push(...tenantProblems);
    const quotaSpec = quota === undefined ? undefined : parseQuotaSpec(quota, `${where}.quota`, problems);
    if (quotaSpec && typeof tenant === 'string') {
      // A tenant has one quota, shared by its tokens: given on any of its entries, the same wherever it is repeated.
      const first = tenantQuotas.get(tenant);
      if (!first) tenantQuotas.set(tenant, { quota: quotaSpec, where });
      else if (!sameQuota(first.quota, quotaSpec))
        problems.push(
          `${where}.quota differs from ${first.where.replace('tokens file: ', '')}.quota for tenant "${tenant}": the tokens of one tenant share one quota (give it once, or the same on each)`,
        );
    }
    if (typeof token !== 'string') return;
    seen.add(token);
    entries.push({
      token,
      name: typeof name === 'string' ? name : `token#${index}`,
      right: right as Right,
      ...(Array.isArray(allow) ? { allow: allow as string[] } : {}),
      ...(Array.isArray(deny) ? { deny: deny as string[] } : {}),
      ...(tenantProblems.length === 0 && typeof tenant === 'string'
        ? { tenant: { name: tenant, redisUrl: redisUrl as string } }
        : {}),
      ...(quotaSpec ? { quota: quotaSpec } : {}),
    });
  });
  if (problems.length > 0) return { problems };
  // Every token of a tenant carries its quota, whichever entry gave it.
  return {
    entries: entries.map((e) => {
      const shared = e.tenant ? tenantQuotas.get(e.tenant.name)?.quota : undefined;
      return shared && !e.quota ? { ...e, quota: shared } : e;
    }),
  };
}

/** What is wrong with an entry's `tenant` and `redisUrl`: both or neither, a plain name, one URL per tenant. */
function tenantProblemsOf(
  where: string,
  tenant: unknown,
  redisUrl: unknown,
  tenants: Map<string, { redisUrl: string; where: string }>,
): string[] {
  if (tenant === undefined && redisUrl === undefined) return [];
  if (tenant === undefined) return [`${where}.redisUrl: given without a "tenant" (set both or neither)`];
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant) || tenant === 'default') {
    return [
      `${where}.tenant: expected 1 to 32 letters, digits, '_', '.' or '-' (starting with a letter or digit; not "default"), got ${JSON.stringify(tenant)}`,
    ];
  }
  if (redisUrl === undefined) return [`${where}.tenant: "${tenant}" needs a "redisUrl" (its Redis)`];
  const problem = typeof redisUrl === 'string' ? redisUrlProblem(redisUrl) : 'expected a string';
  if (problem) return [`${where}.redisUrl: ${problem}`];
  const first = tenants.get(tenant);
  if (!first) {
    tenants.set(tenant, { redisUrl: redisUrl as string, where });
    return [];
  }
  return first.redisUrl === redisUrl
    ? []
    : [
        `${where}.redisUrl differs from ${first.where.replace('tokens file: ', '')}.redisUrl for tenant "${tenant}": the entries of one tenant share one Redis`,
      ];
}
