// Where a command may run: the shared main pool, the blocking pool, or nowhere (with what to use instead). Pure.
import type { Route } from '../redis/command.js';
import type { CommandInfo } from './command-table.js';

export type Classification = { readonly route: Route } | { readonly refused: string };

const USE_MULTI_EXEC = 'use POST /multi-exec (or a WebSocket "multi" request) for an atomic transaction';
const USE_SUBSCRIBE =
  'use POST /subscribe/<channel> or /psubscribe/<pattern> (SSE), or a WebSocket "subscribe" request';
const SHARED = 'Sluice connections are shared by every caller';
const AFFECTS_ALL =
  'it would affect every caller of the broker; run it with redis-cli against Redis directly';

/** Commands that change or need connection state, with the reason and what to use instead. */
const REFUSED: Readonly<Record<string, string>> = {
  select: `${SHARED}; choose the database in SLUICE_REDIS_URL (redis://host:port/<db>) instead`,
  swapdb: AFFECTS_ALL,
  auth: `the broker authenticates to Redis itself (SLUICE_REDIS_URL); callers authenticate with a bearer token`,
  hello: `${SHARED} and speak RESP2; the broker answers in JSON either way`,
  client: `CLIENT acts on the connection, and ${SHARED}`,
  reset: `${SHARED}; there is no connection state to reset`,
  quit: `${SHARED}; close your HTTP or WebSocket connection instead`,
  readonly: `${SHARED}; connection modes are not available`,
  readwrite: `${SHARED}; connection modes are not available`,
  asking: `${SHARED}; the broker follows cluster redirections itself`,
  multi: USE_MULTI_EXEC,
  exec: USE_MULTI_EXEC,
  discard: USE_MULTI_EXEC,
  watch: `WATCH needs a connection of its own between commands; ${USE_MULTI_EXEC}`,
  unwatch: `WATCH needs a connection of its own between commands; ${USE_MULTI_EXEC}`,
  subscribe: USE_SUBSCRIBE,
  psubscribe: USE_SUBSCRIBE,
  ssubscribe: USE_SUBSCRIBE,
  unsubscribe: USE_SUBSCRIBE,
  punsubscribe: USE_SUBSCRIBE,
  sunsubscribe: USE_SUBSCRIBE,
  monitor: 'use POST /monitor (SSE) with a token that has the admin right',
  shutdown: AFFECTS_ALL,
  debug: AFFECTS_ALL,
  replicaof: AFFECTS_ALL,
  slaveof: AFFECTS_ALL,
  failover: AFFECTS_ALL,
  sync: AFFECTS_ALL,
  psync: AFFECTS_ALL,
};

/** Whether Sluice refuses the command to every caller whatever its arguments (connection state, MONITOR, SHUTDOWN…). */
export function isRefusedToAll(name: string): boolean {
  return Object.hasOwn(REFUSED, name);
}

/** Commands that block without Redis flagging them `blocking` (Redis 7.0 flags WAIT only `noscript`). */
const ALSO_BLOCKING = new Set(['wait', 'waitaof']);
/** Commands flagged `blocking` that block only with a BLOCK argument. */
const BLOCK_ARGUMENT = new Set(['xread', 'xreadgroup']);

/** Whether XREAD/XREADGROUP options (everything before STREAMS, which starts the keys) include BLOCK. */
function hasBlockArgument(args: ReadonlyArray<string | Buffer>): boolean {
  for (const arg of args) {
    const word = arg.toString().toUpperCase();
    if (word === 'STREAMS') return false;
    if (word === 'BLOCK') return true;
  }
  return false;
}

/** Decides where a command runs. `name` is lower case; `args` exclude the name. */
export function classify(
  name: string,
  args: ReadonlyArray<string | Buffer>,
  info: CommandInfo | undefined,
): Classification {
  const refused = REFUSED[name];
  if (refused !== undefined)
    return { refused: `ERR ${name.toUpperCase()} is not allowed through Sluice: ${refused}` };
  if (ALSO_BLOCKING.has(name)) return { route: 'blocking' };
  if (info?.flags.has('blocking')) {
    if (!BLOCK_ARGUMENT.has(name) || hasBlockArgument(args)) return { route: 'blocking' };
  }
  return { route: 'main' };
}
