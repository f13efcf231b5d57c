// The bounded wait queue in front of the pools: at most `maxInflight` requests run, at most `queueMax` wait (FIFO).
import { performance } from 'node:perf_hooks';
import { SluiceError } from './errors.js';

/** Limits of admission; see SLUICE_MAX_INFLIGHT, SLUICE_QUEUE_MAX and SLUICE_QUEUE_TIMEOUT_MS. */
export interface AdmissionOptions {
  readonly maxInflight: number;
  readonly queueMax: number;
  readonly queueTimeoutMs: number;
}

/** A request waiting for a slot. */
interface Waiter {
  readonly start: () => void;
  readonly refuse: (error: SluiceError) => void;
  readonly waited: ((seconds: number) => void) | undefined;
  /** When it started waiting (performance.now()), for the "maxwait" saturation signal. */
  readonly since: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Bounded concurrency with a bounded FIFO queue; refuses at once when the queue is full and gives up on long waits.
 * Written by hand rather than with p-queue: on the hot path every request enters and leaves, and callbacks instead
 * of a promise and an event emitter per task took ~4% of the broker's CPU off scenario 1 of the benchmark.
 */
export class Admission {
  readonly #options: AdmissionOptions;
  #running = 0;
  readonly #waiters: Waiter[] = [];
  #idle: (() => void)[] = [];

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Requests running. */
  get running(): number {
    return this.#running;
  }

  /** Seconds the oldest waiting request has waited (0 when none waits). */
  oldestWaitSeconds(now = performance.now()): number {
    const oldest = this.#waiters[0];
    return oldest === undefined ? 0 : (now - oldest.since) / 1000;
  }

  /**
   * Calls `start` when a slot is free (at once when one is); the slot is held until `leave()`. Calls `refuse`
   * instead with SLUICE_ERR_QUEUE_FULL at once, or SLUICE_ERR_QUEUE_TIMEOUT after waiting too long (`start` then
   * never runs). `waited` receives the seconds spent waiting, when the request had to wait.
   */
  enter(start: () => void, refuse: (error: SluiceError) => void, waited?: (seconds: number) => void): void {
    if (this.#running < this.#options.maxInflight && this.#waiters.length === 0) {
      this.#running++;
      start();
      return;
    }
    if (this.#waiters.length >= this.#options.queueMax) {
      refuse(
        new SluiceError(
          'SLUICE_ERR_QUEUE_FULL',
          `ERR ${this.#waiters.length} requests are already waiting for a Redis connection (SLUICE_QUEUE_MAX=${this.#options.queueMax})`,
        ),
      );
      return;
    }
    const waiter: Waiter = { start, refuse, waited, since: performance.now(), timer: undefined };
    waiter.timer = setTimeout(() => {
      const index = this.#waiters.indexOf(waiter);
      if (index === -1) return;
      this.#waiters.splice(index, 1);
      refuse(
        new SluiceError(
          'SLUICE_ERR_QUEUE_TIMEOUT',
          `ERR waited ${this.#options.queueTimeoutMs} ms for a Redis connection (SLUICE_QUEUE_TIMEOUT_MS); nothing was sent`,
        ),
      );
      this.#checkIdle();
    }, this.#options.queueTimeoutMs);
    this.#waiters.push(waiter);
  }

  /** Frees the slot taken by a `start` and starts the oldest waiting request. */
  leave(): void {
    this.#running--;
    const next = this.#waiters.shift();
    if (next === undefined) return this.#checkIdle();
    clearTimeout(next.timer);
    this.#running++;
    next.waited?.((performance.now() - next.since) / 1000);
    next.start();
  }

  /** Resolves when nothing runs or waits. */
  onIdle(): Promise<void> {
    if (this.#running === 0 && this.#waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #checkIdle(): void {
    if (this.#running !== 0 || this.#waiters.length !== 0 || this.#idle.length === 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
