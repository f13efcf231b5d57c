// A Clock that only moves when a test advances it: timeouts and sweeps tested without sleeping.
import type { Clock, ClockTimer } from '../../broker/clock.js';

/** One armed timer of a ManualClock. */
class ManualTimer implements ClockTimer {
  readonly id: number;
  due: number;
  readonly callback: () => void;
  /** Set for setInterval timers: the period after each firing. */
  readonly periodMs: number | undefined;

  constructor(id: number, due: number, callback: () => void, periodMs: number | undefined) {
    this.id = id;
    this.due = due;
    this.callback = callback;
    this.periodMs = periodMs;
  }

  unref(): ManualTimer {
    return this;
  }
}

/**
 * A test clock. `now()` starts at `startMs` and only moves with `advance(ms)`, which fires every timer due by the
 * new time in order of due time (then of arming), each with `now()` set to its due time, as Node would.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 1000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    return this.#arm(callback, ms, undefined);
  }

  setInterval(callback: () => void, ms: number): ClockTimer {
    return this.#arm(callback, ms, Math.max(1, ms));
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (!(timer instanceof ManualTimer)) return;
    this.#timers = this.#timers.filter((t) => t !== timer);
  }

  clearInterval(timer: ClockTimer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Moves time forward by `ms`, firing due timers in order (timers armed by a callback fire too if due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.due > end) break;
      this.#now = Math.max(this.#now, next.due);
      if (next.periodMs === undefined) this.#timers = this.#timers.filter((t) => t !== next);
      else next.due += next.periodMs;
      next.callback();
    }
    this.#now = end;
  }

  #arm(callback: () => void, ms: number, periodMs: number | undefined): ManualTimer {
    // Node fires a timer of 0 (or less, or NaN) ms after 1 ms.
    const delay = Number.isFinite(ms) && ms >= 1 ? ms : 1;
    const timer = new ManualTimer(this.#nextId++, this.#now + delay, callback, periodMs);
    this.#timers.push(timer);
    return timer;
  }

  #earliest(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (!best || timer.due < best.due || (timer.due === best.due && timer.id < best.id)) best = timer;
    }
    return best;
  }
}
