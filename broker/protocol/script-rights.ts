// What a script of a caller with limited rights may do inside Redis: the caller's rights as Redis ACL command rules,
// built from the same table and check as the broker's top-level refusals (issue 17, item 2). Pure.
import { type Principal, permits } from './auth.js';
import { isRefusedToAll } from './classify.js';
import type { CommandTable } from './command-table.js';

/** The commands that run Lua or functions, inside which Redis (not the broker) decides what each call may do. */
export const SCRIPT_COMMANDS: ReadonlySet<string> = new Set([
  'eval',
  'evalsha',
  'eval_ro',
  'evalsha_ro',
  'fcall',
  'fcall_ro',
]);

/** Whether a caller has fewer rights than the broker's own connections: its scripts need an ACL user. */
export function isRestricted(principal: Principal): boolean {
  return principal.right !== 'admin' || principal.allow !== undefined || principal.deny !== undefined;
}

/**
 * The ACL command rules of a caller: `-@all`, then `+cmd` (or `+cmd|sub`) for each command of Redis's own table that
 * `permits` allows it and that the broker does not refuse to everyone. Built from the same table and the same check
 * as the broker's top-level refusals, so the two cannot disagree. Sorted: one profile, one rule list.
 */
export function aclCommandRules(principal: Principal, table: CommandTable): string[] {
  const allowed: string[] = [];
  for (const [name, info] of table) {
    if (isRefusedToAll(name)) continue;
    if (info.subcommands) {
      for (const [sub, subInfo] of info.subcommands)
        if (permits(principal, name, subInfo)) allowed.push(`+${name}|${sub}`);
    } else if (permits(principal, name, info)) allowed.push(`+${name}`);
  }
  // What the broker itself sends on the connection: CLIENT SETNAME as ioredis connects, MULTI and EXEC around a
  // /multi-exec. All three are `noscript` and refused to every caller (classify.ts), so they grant nothing to a
  // script or a request.
  allowed.push('+client|setname', '+multi', '+exec');
  return ['-@all', ...allowed.sort()];
}
