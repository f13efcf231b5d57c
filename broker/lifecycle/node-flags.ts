// The V8 settings the broker runs with, and which of them a process was started without.

/**
 * `--max-semi-space-size=64`: V8's young generation (16 MB semi-spaces by default) is sized for short-lived pages,
 * not for a broker holding thousands of requests in flight. With it too small, every scavenge promotes the
 * in-flight commands, replies and promises to the old generation, and garbage collection takes a large share of
 * the broker's CPU under load (bench scenario 4; figures in bench/results/code-comment-figures.md). It is a bound,
 * not a reservation: the young generation grows to it only under allocation pressure.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** The flags of NODE_FLAGS whose setting is in neither `execArgv` nor `NODE_OPTIONS` (any value counts as set). */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env['NODE_OPTIONS'] ?? '',
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(flagName);
  return NODE_FLAGS.filter((flag) => !given.includes(flagName(flag)));
}

/** `--max-semi-space-size=64` → `--max-semi-space-size` (V8 also accepts underscores). */
function flagName(arg: string): string {
  return arg.split('=')[0]!.replaceAll('_', '-');
}
