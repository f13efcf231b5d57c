// Real-time waiting for tests that watch real processes and sockets (logic with timers takes a ManualClock instead).

/** Resolves after `ms` milliseconds of real time. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How `waitFor` polls. */
export interface WaitForOptions {
  /** When set, a timeout throws an Error naming what was awaited, instead of resolving false. */
  readonly what?: string;
  /** Milliseconds between checks; default 20. */
  readonly everyMs?: number;
  /** A check that throws counts as "not yet" (a server still starting) instead of failing the wait. */
  readonly retryErrors?: boolean;
}

/**
 * Polls `check` until it returns something other than false or undefined, and resolves with that value; after
 * `timeoutMs` resolves false (or throws, with `options.what`). The one polling helper of the tests.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  options: WaitForOptions = {},
): Promise<Exclude<T, undefined> | false> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch (error) {
      if (!options.retryErrors) throw error;
      value = undefined;
    }
    if (value !== undefined && value !== false) return value as Exclude<T, undefined>;
    if (performance.now() >= end) {
      if (options.what !== undefined)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}`);
      return false;
    }
    await sleep(options.everyMs ?? 20);
  }
}
