// Where each blocking command carries its timeout, and capping it to the broker's longest block. Pure.
import { SluiceError } from '../errors.js';
import type { Arg } from './command.js';

/** How a command states its timeout: seconds (fractions allowed) or whole milliseconds. */
type Unit = 's' | 'ms';

/** A timeout's position in the arguments (after the name); `last` counts from the end. */
interface TimeoutSpec {
  readonly unit: Unit;
  readonly at: 'last' | number | 'block';
}

/**
 * The timeout argument of each blocking command (https://redis.io/docs/latest/commands/): list and sorted-set pops
 * take seconds, XREAD/XREADGROUP `BLOCK` and WAIT/WAITAOF take milliseconds. 0 means "forever" in every one.
 */
const TIMEOUTS: Readonly<Record<string, TimeoutSpec>> = {
  blpop: { unit: 's', at: 'last' },
  brpop: { unit: 's', at: 'last' },
  brpoplpush: { unit: 's', at: 'last' },
  blmove: { unit: 's', at: 'last' },
  bzpopmin: { unit: 's', at: 'last' },
  bzpopmax: { unit: 's', at: 'last' },
  blmpop: { unit: 's', at: 0 },
  bzmpop: { unit: 's', at: 0 },
  xread: { unit: 'ms', at: 'block' },
  xreadgroup: { unit: 'ms', at: 'block' },
  wait: { unit: 'ms', at: 1 },
  waitaof: { unit: 'ms', at: 2 },
};

/** A blocking command ready to send: its arguments with the timeout capped, and how long it may block. */
export interface CappedCommand {
  readonly args: Arg[];
  /** The longest the command can block, in ms (the capped timeout, or the cap when the position is unknown). */
  readonly blockMs: number;
  /** Whether the caller's timeout was replaced by the cap. */
  readonly capped: boolean;
}

function text(arg: Arg): string {
  return typeof arg === 'string' ? arg : arg.toString('latin1');
}

/** The index of the timeout argument in `args`, or undefined when the command has none there. */
function timeoutIndex(spec: TimeoutSpec, args: readonly Arg[]): number | undefined {
  if (spec.at === 'last') return args.length > 0 ? args.length - 1 : undefined;
  if (spec.at === 'block') {
    // Options come before STREAMS; after it everything is keys and IDs.
    for (let i = 0; i < args.length - 1; i++) {
      const word = text(args[i]!).toUpperCase();
      if (word === 'STREAMS') return undefined;
      if (word === 'BLOCK') return i + 1;
    }
    return undefined;
  }
  return spec.at < args.length ? spec.at : undefined;
}

const SECONDS = /^\+?(\d+(\.\d*)?|\.\d+)$/;
const MILLISECONDS = /^\+?\d+$/;

function badTimeout(name: string, unit: Unit, given: string): SluiceError {
  const expected =
    unit === 's' ? 'a number of seconds, 0 or more' : 'a whole number of milliseconds, 0 or more';
  return new SluiceError(
    'SLUICE_ERR_BLOCKING_BAD_TIMEOUT',
    `ERR ${name.toUpperCase()} timeout: expected ${expected}, got ${JSON.stringify(given)}; nothing was sent`,
  );
}

/** Seconds as Redis reads them: at most millisecond precision, no exponent. */
function formatSeconds(ms: number): string {
  return (ms / 1000).toFixed(3).replace(/\.?0+$/, '');
}

/**
 * Caps a blocking command's timeout to `capMs` (≥ 1): a timeout of 0 ("forever") or longer than the cap is
 * replaced by the cap. A negative or non-numeric timeout is refused before anything is sent. Commands whose
 * timeout is missing (Redis will answer with its own arity error) or unknown pass unchanged, blocking at most
 * `capMs` as far as the broker knows.
 */
export function capBlockingTimeout(
  name: string,
  args: readonly Arg[],
  capMs: number,
): CappedCommand | SluiceError {
  const spec = TIMEOUTS[name];
  const index = spec ? timeoutIndex(spec, args) : undefined;
  if (!spec || index === undefined) return { args: [...args], blockMs: capMs, capped: false };
  const given = text(args[index]!).trim();
  if (!(spec.unit === 's' ? SECONDS : MILLISECONDS).test(given)) return badTimeout(name, spec.unit, given);
  const ms = spec.unit === 's' ? Number(given) * 1000 : Number(given);
  if (!Number.isFinite(ms)) return badTimeout(name, spec.unit, given);
  if (ms >= 1 && ms <= capMs) return { args: [...args], blockMs: ms, capped: false };
  // Below 1 ms Redis could round the timeout down to 0, which means "forever": treat it as 1 ms.
  if (ms > 0 && ms < 1) {
    const floor = [...args];
    floor[index] = spec.unit === 's' ? formatSeconds(1) : '1';
    return { args: floor, blockMs: 1, capped: true };
  }
  const capped = [...args];
  capped[index] = spec.unit === 's' ? formatSeconds(capMs) : String(capMs);
  return { args: capped, blockMs: capMs, capped: true };
}
