// Where a Redis replication stream is (ID + offset), what ROLE and INFO replication say about it, and what a
// request carries of it for read-your-writes (issue 20). The parsers are pure.

/** A point in the primary's replication stream: its replication ID and a byte offset in it. */
export interface SyncPosition {
  /** The primary's `master_replid` (40 hex characters). */
  readonly replid: string;
  /** `master_repl_offset`, in bytes. */
  readonly offset: number;
}

/**
 * What one request carries of read-your-writes, from its transport to the runner and back. Mutable: the runner
 * fills `result`.
 */
export interface RequestSync {
  /** The oldest primary position the answer must reflect (a verified token, the per-token floor, the socket's last write). */
  floor: SyncPosition | undefined;
  /** Whether the request's token failed to verify (it is then served as a tokenless one, and counted). */
  badToken: boolean;
  /**
   * Whether the request carried a token at all (not absent or empty): when the primary's positions cannot be
   * learnt (ROLE or INFO refused), such a read goes to the primary, since its token cannot say what it must see.
   */
  carried: boolean;
  /** Set by the runner: where the primary was after the request's writes (undefined when unknown or a read). */
  result: SyncPosition | undefined;
}

/** The later of two positions of one stream; across replication IDs, `b` when it is given (the newer claim). */
export function laterPosition(
  a: SyncPosition | undefined,
  b: SyncPosition | undefined,
): SyncPosition | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a.replid !== b.replid) return b;
  return a.offset >= b.offset ? a : b;
}

function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
}

/**
 * The primary's offset from a ROLE reply (`["master", offset, [replicas…]]`,
 * https://redis.io/docs/latest/commands/role/), or undefined when the server is not a primary.
 */
export function roleOffset(reply: unknown): number | undefined {
  if (!Array.isArray(reply) || reply.length < 2 || text(reply[0]) !== 'master') return undefined;
  const offset = Number(text(reply[1]));
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
}

/** What `INFO replication` says, as far as routing reads needs it. */
export interface ReplicationInfo {
  readonly role: 'master' | 'slave';
  /** `master_replid`: the ID of the history this server holds (a replica takes its primary's). */
  readonly replid: string;
  /** `master_replid2`: the previous ID, valid up to `secondOffset` (after a failover or promotion). */
  readonly replid2: string;
  /** `second_repl_offset`; -1 when there is no previous ID. */
  readonly secondOffset: number;
  /**
   * The offset applied: `master_repl_offset` on a primary; on a replica `slave_repl_offset` (what it has processed of
   * its primary's stream), else its `master_repl_offset`.
   */
  readonly offset: number;
  /** A replica's `master_link_status:up`; always true on a primary. */
  readonly linkUp: boolean;
}

/** Parses the text of `INFO replication` (https://redis.io/docs/latest/commands/info/); undefined when malformed. */
export function parseReplicationInfo(reply: unknown): ReplicationInfo | undefined {
  const fields = new Map<string, string>();
  for (const line of text(reply).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  const role = fields.get('role');
  const replid = fields.get('master_replid');
  const own = Number(fields.get('master_repl_offset'));
  if ((role !== 'master' && role !== 'slave') || replid === undefined || !Number.isSafeInteger(own))
    return undefined;
  const applied = Number(fields.get('slave_repl_offset'));
  return {
    role,
    replid,
    replid2: fields.get('master_replid2') ?? '',
    secondOffset: Number(fields.get('second_repl_offset') ?? -1),
    offset: role === 'slave' && Number.isSafeInteger(applied) ? applied : own,
    linkUp: role === 'master' || fields.get('master_link_status') === 'up',
  };
}

/**
 * Whether a server at `info` holds everything up to `floor`: the same history at or past its offset, or the
 * previous history (before a promotion) up to where it ended. 'never' when it cannot come to hold it (another
 * history), so waiting is pointless.
 */
export function holds(info: ReplicationInfo, floor: SyncPosition): 'yes' | 'not_yet' | 'never' {
  if (floor.replid === info.replid) return info.offset >= floor.offset ? 'yes' : 'not_yet';
  // second_repl_offset is the first offset of the new history: the old one is shared below it.
  if (floor.replid === info.replid2 && floor.offset < info.secondOffset)
    return info.offset >= floor.offset ? 'yes' : 'not_yet';
  return 'never';
}
