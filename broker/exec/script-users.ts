// Scripts of tokens with limited rights run as a Redis ACL user holding exactly those rights, so Redis enforces them
// inside EVAL and FCALL, where the broker's own check of the top-level command cannot see (issue 17, item 2). The
// rules come with the command (protocol/script-rights.ts); this file makes users and their connections from them.
import { hash, randomBytes } from 'node:crypto';
import { type Redis, ReplyError } from 'ioredis';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RunAs } from '../redis/command.js';
import { Pool } from '../redis/pool.js';
import type { RedisTarget } from '../redis/target.js';
import { type ConnectionBudget, UNBOUNDED } from '../redis/connection-budget.js';
import type { Telemetry } from '../telemetry.js';

/** The catalogue refusal for a restricted caller's script, naming why no ACL user can run it. */
export function scriptRefused(why: string): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_AUTH_SCRIPT_REFUSED',
    `NOPERM scripts of this token are refused: ${why}; a script would otherwise run with more rights than the token has`,
  );
}

/** One ACL user (one rights profile) and its connection. */
interface ScriptUser {
  readonly name: string;
  readonly rules: readonly string[];
  pool: Pool | undefined;
  opening: Promise<Pool | SluiceError> | undefined;
  /** Set when Redis refused to create the user: permanent for this process. */
  refused: SluiceError | undefined;
}

export interface ScriptUsersOptions {
  /** How the broker reaches Redis; script connections use it with the ACL user's name and password. */
  readonly target: RedisTarget;
  readonly connectTimeoutMs: number;
  readonly stallMs: number;
  /** Why this topology cannot have script users (Cluster, Sentinel), or undefined. */
  readonly unsupported: string | undefined;
  /** A ready connection of the broker's own (main pool) to run ACL SETUSER on. */
  readonly control: () => Redis | undefined;
  /** Each user's connection is taken from it (SLUICE_MAX_REDIS_CONNECTIONS); unbounded by default. */
  readonly budget?: ConnectionBudget | undefined;
  /** Whose scripts these are in errors, e.g. ` of tenant "app1"`; '' by default. */
  readonly owner?: string | undefined;
}

/**
 * Makes and holds one ACL user per distinct rights profile, named `sluice-<hash of its rules>`, each with a
 * connection (a pool of one, opened on the first script of that profile). Every broker process adds its own random
 * 256-bit password to the user (ACL SETUSER keeps the others, so brokers sharing a Redis do not lock each other out)
 * and removes it when it closes; no other client can authenticate as the user without that password.
 */
export class ScriptUsers {
  readonly #options: ScriptUsersOptions;
  readonly #logger: Logger;
  readonly #telemetry: Telemetry;
  readonly #password = randomBytes(32).toString('hex');
  #byRules = new Map<string, ScriptUser>();
  #byRunAs = new WeakMap<RunAs, ScriptUser>();

  constructor(options: ScriptUsersOptions, logger: Logger, telemetry: Telemetry) {
    this.#options = options;
    this.#logger = logger;
    this.#telemetry = telemetry;
  }

  /** The refusal for scripts under these rules when it is already known (topology, Redis refused the user). */
  refusal(runAs: RunAs): SluiceError | undefined {
    if (this.#options.unsupported !== undefined) return scriptRefused(this.#options.unsupported);
    return this.#byRunAs.get(runAs)?.refused;
  }

  /**
   * The pool whose connection runs scripts under `runAs`: at once when open, else a promise (the user is being made
   * and its connection opened), or the error that refuses the script. Never throws.
   */
  acquire(runAs: RunAs): Pool | Promise<Pool | SluiceError> | SluiceError {
    const known = this.refusal(runAs);
    if (known) return known;
    const user = this.#userOf(runAs);
    if (user.refused) return user.refused;
    if (user.pool) return user.pool;
    user.opening ??= this.#open(user).finally(() => {
      user.opening = undefined;
    });
    return user.opening;
  }

  /**
   * Forgets every user and closes their connections: after Redis comes back (it may have restarted and lost its ACL
   * users), the next script makes its user again.
   */
  reset(): void {
    const users = [...this.#byRules.values()];
    this.#byRules = new Map();
    this.#byRunAs = new WeakMap();
    for (const user of users) if (user.pool) void this.#closePool(user.pool);
  }

  /** Closes a user's connection and gives its place in the budget back. */
  #closePool(pool: Pool): Promise<void> {
    (this.#options.budget ?? UNBOUNDED).give();
    return pool.close();
  }

  /** Removes this process's password from every user it made, then closes their connections. */
  async close(): Promise<void> {
    const users = [...this.#byRules.values()];
    this.#byRules = new Map();
    const control = this.#options.control();
    await Promise.allSettled(
      users.map(async (user) => {
        if (user.pool && control) await control.call('ACL', 'SETUSER', user.name, `<${this.#password}`);
        if (user.pool) await this.#closePool(user.pool);
      }),
    );
  }

  #userOf(runAs: RunAs): ScriptUser {
    const found = this.#byRunAs.get(runAs);
    if (found) return found;
    const { rules } = runAs;
    const key = rules.join(' ');
    let user = this.#byRules.get(key);
    if (!user) {
      const name = `sluice-${hash('sha256', key, 'hex').slice(0, 16)}`;
      user = { name, rules, pool: undefined, opening: undefined, refused: undefined };
      this.#byRules.set(key, user);
    }
    this.#byRunAs.set(runAs, user);
    return user;
  }

  async #open(user: ScriptUser): Promise<Pool | SluiceError> {
    const unavailable = new SluiceError(
      'SLUICE_ERR_REDIS_UNAVAILABLE',
      'ERR the connection for scripts of this token could not be opened; nothing was sent',
    );
    const control = this.#options.control();
    if (!control) return unavailable;
    try {
      // `on` and an added password, never `reset`/`nopass`: other brokers' passwords stay, and no one without a
      // password gets in. Keys `~*` and channels `&*`: tokens do not limit keys, only commands.
      await control.call(
        'ACL',
        'SETUSER',
        user.name,
        'on',
        `>${this.#password}`,
        '~*',
        'resetchannels',
        '&*',
        ...user.rules,
      );
    } catch (error) {
      if (!(error instanceof ReplyError)) return unavailable;
      const said = (error as Error).message.split('\n')[0];
      user.refused = scriptRefused(`Redis refused ACL SETUSER (${said})`);
      this.#logger.warn(
        { event: 'script_user_refused', user: user.name },
        'Redis refused ACL SETUSER: scripts of tokens with limited rights are refused',
      );
      return user.refused;
    }
    const refused = (this.#options.budget ?? UNBOUNDED).take(
      `the connection for scripts of this token${this.#options.owner ?? ''}`,
    );
    if (refused) return refused;
    const url = new URL(this.#options.target.url);
    url.username = user.name;
    url.password = this.#password;
    const pool = new Pool(
      {
        target: { ...this.#options.target, url: url.toString() },
        size: 1,
        connectTimeoutMs: this.#options.connectTimeoutMs,
        name: 'sluice-script',
        stallMs: this.#options.stallMs,
        // The ready check sends INFO, which the user may not be allowed to run.
        connection: { enableReadyCheck: false },
      },
      this.#logger,
      this.#telemetry,
    );
    await pool.start();
    if (pool.stats().ready === 0) {
      await this.#closePool(pool);
      return unavailable;
    }
    if (this.#byRules.get(user.rules.join(' ')) !== user) {
      // reset() or close() ran while it opened.
      await this.#closePool(pool);
      return unavailable;
    }
    user.pool = pool;
    this.#logger.info({ event: 'script_user_ready', user: user.name }, 'opened a connection for scripts');
    return pool;
  }
}
