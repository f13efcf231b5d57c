// The bounded wait queue in front of the pools (p-queue): at most `maxInflight` requests run, `queueMax` wait.
import PQueue from 'p-queue';
import { SluiceError } from './errors.js';

/** Limits of admission; see SLUICE_MAX_INFLIGHT, SLUICE_QUEUE_MAX and SLUICE_QUEUE_TIMEOUT_MS. */
export interface AdmissionOptions {
  readonly maxInflight: number;
  readonly queueMax: number;
  readonly queueTimeoutMs: number;
}

/** Runs tasks with bounded concurrency; refuses at once when the queue is full and gives up on long waits. */
export class Admission {
  readonly #queue: PQueue;
  readonly #options: AdmissionOptions;
  /** When the oldest waiting request started waiting (performance.now()), for the "maxwait" saturation signal. */
  readonly #waitingSince: number[] = [];

  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#queue = new PQueue({ concurrency: options.maxInflight });
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Requests running. */
  get running(): number {
    return this.#queue.pending;
  }

  /** Seconds the oldest waiting request has waited (0 when none waits). */
  oldestWaitSeconds(now = performance.now()): number {
    const oldest = this.#waitingSince[0];
    return oldest === undefined ? 0 : (now - oldest) / 1000;
  }

  /**
   * Runs `task` when a slot is free. The slot is held until the task's promise settles. Throws
   * SLUICE_ERR_QUEUE_FULL at once, or SLUICE_ERR_QUEUE_TIMEOUT after waiting too long (the task never runs).
   * `waited` receives the seconds spent waiting.
   */
  run<T>(task: () => Promise<T>, waited?: (seconds: number) => void): Promise<T> {
    const queue = this.#queue;
    if (queue.pending < this.#options.maxInflight && queue.size === 0) return queue.add(task);
    if (queue.size >= this.#options.queueMax) {
      return Promise.reject(
        new SluiceError(
          'SLUICE_ERR_QUEUE_FULL',
          `ERR ${queue.size} requests are already waiting for a Redis connection (SLUICE_QUEUE_MAX=${this.#options.queueMax})`,
        ),
      );
    }
    const since = performance.now();
    this.#waitingSince.push(since);
    const stopWaiting = () => {
      const index = this.#waitingSince.indexOf(since);
      if (index !== -1) this.#waitingSince.splice(index, 1);
    };
    const controller = new AbortController();
    const timer = setTimeout(() => {
      stopWaiting();
      controller.abort(
        new SluiceError(
          'SLUICE_ERR_QUEUE_TIMEOUT',
          `ERR waited ${this.#options.queueTimeoutMs} ms for a Redis connection (SLUICE_QUEUE_TIMEOUT_MS); nothing was sent`,
        ),
      );
    }, this.#options.queueTimeoutMs);
    // The signal only guards the wait: it is cleared when the task starts, so a running task is never abandoned.
    return queue.add(
      () => {
        clearTimeout(timer);
        stopWaiting();
        waited?.((performance.now() - since) / 1000);
        return task();
      },
      { signal: controller.signal },
    );
  }

  /** Resolves when nothing runs or waits. */
  onIdle(): Promise<void> {
    return this.#queue.onIdle();
  }
}
