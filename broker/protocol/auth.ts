// Bearer tokens and their rights: who is calling, and whether they may run a command. One code path for every transport.
import { hash, timingSafeEqual } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { CommandInfo } from './command-table.js';

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
}

/** One token and what it may do. */
export interface TokenEntry {
  readonly token: string;
  readonly name: string;
  readonly right: Right;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

/** Commands a read-only caller may run although Redis does not flag them `readonly`. */
const READONLY_EXTRAS = new Set(['ping', 'echo']);

function digest(token: string): Buffer {
  // crypto.hash (Node ≥ 20.12) is the one-shot form: no Hash object per request.
  return hash('sha256', token, 'buffer');
}

/** Looks tokens up by their SHA-256 and compares digests in constant time. */
export class Authenticator {
  readonly #entries: { digest: Buffer; principal: Principal }[];

  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries.map((e) => ({
      digest: digest(e.token),
      principal: {
        name: e.name,
        right: e.right,
        allow: e.allow ? new Set(e.allow.map((c) => c.toLowerCase())) : undefined,
        deny: e.deny ? new Set(e.deny.map((c) => c.toLowerCase())) : undefined,
      },
    }));
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

/**
 * Parses a tokens file: `{"tokens":[{"token":"…","name":"…","right":"readonly|readwrite|admin","allow":[…],"deny":[…]}]}`.
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
  list.forEach((item: unknown, index: number) => {
    const where = `tokens file: tokens[${index}]`;
    if (typeof item !== 'object' || item === null) {
      problems.push(`${where}: expected an object`);
      return;
    }
    const { token, name, right, allow, deny, ...unknown } = item as Record<string, unknown>;
    // A misspelt key (say `alow`) must not silently widen a token's rights: refuse it.
    for (const key of Object.keys(unknown))
      problems.push(
        `${where}: unknown key ${JSON.stringify(key)} (expected token, name, right, allow, deny)`,
      );
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
    if (typeof token !== 'string') return;
    seen.add(token);
    entries.push({
      token,
      name: typeof name === 'string' ? name : `token#${index}`,
      right: right as Right,
      ...(Array.isArray(allow) ? { allow: allow as string[] } : {}),
      ...(Array.isArray(deny) ? { deny: deny as string[] } : {}),
    });
  });
  return problems.length > 0 ? { problems } : { entries };
}
