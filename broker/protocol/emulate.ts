// Upstash behaviours plain Redis lacks, rewritten into commands Redis runs in one step (docs/rest-api.md, compatibility). Pure.
import type { Arg } from '../redis/command.js';

/** A replacement for what is written to Redis; the client still sees (and is checked as) the original command. */
export interface Emulation {
  readonly wireName: string;
  readonly args: Arg[];
}

/**
 * `SCAN … WITHTYPE` → `[cursor, [key1, type1, …]]`. SCAN and the TYPE of each key found run in one read-only
 * script, so the types belong to the same moment as the keys and it costs one round trip.
 */
const SCAN_WITHTYPE = `local r = redis.call('SCAN', unpack(ARGV))
local out = {}
for i, key in ipairs(r[2]) do
  out[2 * i - 1] = key
  out[2 * i] = redis.call('TYPE', key)['ok']
end
return {r[1], out}`;

/** Upstash answers `COPY k k` with 0 (not copied); Redis refuses it with an error. */
const ZERO = 'return 0';

function word(arg: Arg | undefined): string {
  return arg === undefined ? '' : (typeof arg === 'string' ? arg : arg.toString('latin1')).toUpperCase();
}

function sameBytes(a: Arg, b: Arg): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** The emulation for this command (`name` lower case, `args` without the name), or undefined to send it as is. */
export function emulate(name: string, args: readonly Arg[]): Emulation | undefined {
  if (name === 'copy' && args.length >= 2 && args.length <= 3) {
    // Only COPY src dst [REPLACE]; with DB the same key name in another database is a real copy.
    if (args.length === 3 && word(args[2]) !== 'REPLACE') return undefined;
    if (sameBytes(args[0]!, args[1]!)) return { wireName: 'EVAL_RO', args: [ZERO, '0'] };
    return undefined;
  }
  if (name === 'scan') {
    // After the cursor come MATCH/COUNT/TYPE with a value each; WITHTYPE is the only flag (a pattern may be "withtype").
    const kept: Arg[] = args.slice(0, 1);
    let withType = false;
    let i = 1;
    while (i < args.length) {
      if (word(args[i]) === 'WITHTYPE') {
        withType = true;
        i += 1;
      } else {
        kept.push(...args.slice(i, i + 2));
        i += 2;
      }
    }
    return withType ? { wireName: 'EVAL_RO', args: [SCAN_WITHTYPE, '0', ...kept] } : undefined;
  }
  return undefined;
}
