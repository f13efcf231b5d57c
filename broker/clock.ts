// The one source of time for timeouts and sweeps, so that tests can drive time instead of sleeping.
import { performance } from 'node:perf_hooks';

/** A pending timer: what `unref()` is called on (a Node timer, or a test clock's entry). */
export interface ClockTimer {
  /** Lets the process exit while this timer is pending (Node's `Timeout.unref`). */
  unref(): ClockTimer;
}

/**
 * Where Sluice reads the time and arms timers. Everything that times out or sweeps takes one (default
 * `realClock`); tests pass a manual clock and advance it. Times are milliseconds on `now()`'s monotonic scale
 * (performance.now() for the real clock).
 */
export interface Clock {
  /** Monotonic milliseconds (performance.now() on the real clock). */
  now(): number;
  setTimeout(callback: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
  setInterval(callback: () => void, ms: number): ClockTimer;
  clearInterval(timer: ClockTimer | undefined): void;
}

/**
 * The process's clock: performance.now() and Node's timers. One module-level object, so reading it on the hot path
 * costs a property read and a call, no closure per request.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout | undefined),
};
