// The command and reply shapes execution and the pools work with; protocol/ produces them, transports encode them.
// They live here, below protocol/, so that the layers running commands never import the layer that prepares them.

/** One argument as sent to Redis: text (written as UTF-8) or raw bytes. */
export type Arg = string | Buffer;

/**
 * A RESP2 reply as ioredis gives it with buffer replies and `stringNumbers`: integers as decimal strings (never
 * through a JS number), bulk and simple strings as Buffers, nil as null, errors nested in arrays as Error.
 */
export type Reply = null | string | Buffer | Reply[] | Error;

/** Where a command runs: the shared main pool, or a blocking pool (one command per connection). */
export type Route = 'main' | 'blocking';

/**
 * The Redis ACL command rules a script of a caller with limited rights runs under (`-@all`, then `+cmd`…): the
 * executor runs it on a connection of the ACL user holding exactly these rules (exec/script-users.ts). One object per
 * rights profile, so it can key caches.
 */
export interface RunAs {
  readonly rules: readonly string[];
}

/** A command that passed every check, ready for a pool. */
export interface PreparedCommand {
  /** Lower-case command name. */
  readonly name: string;
  /** The name as written to Redis: upper case, which also keeps ioredis's own argument/reply rewriting away. */
  readonly wireName: string;
  /** Arguments after the name. */
  readonly args: Arg[];
  readonly route: Route;
  /**
   * Whether Redis flags the command `readonly` (COMMAND): such a command may be served by a read replica
   * (issue 20); anything else counts as a write.
   */
  readonly readOnly: boolean;
  /**
   * Whether the command may change data (Redis flags it `write` or `may_replicate`; a script; PUBLISH; or a command
   * Redis does not know): a request with one learns the primary's position after it (issue 20).
   */
  readonly mayWrite: boolean;
  /** Metric label: a command Redis knows, or `other`. */
  readonly label: string;
  /** Rewrites the reply (SCRIPT LOAD answers the SHA the client computed). */
  readonly mapReply?: ((reply: Reply) => Reply) | undefined;
  /**
   * Set on a script (EVAL*, FCALL*) of a caller with limited rights: it must run as that caller's Redis ACL user,
   * never on the broker's own connections.
   */
  readonly runAs: RunAs | undefined;
}
