// The bounded wait queue in front of the pools (p-queue): at most `maxInflight` requests run, at most `queueMax` wait.
import PQueue from 'p-queue';
import { type Clock, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import { WaitQueue, type WaitOptions } from './wait-queue.js';

/** Limits of admission; see SLUICE_MAX_INFLIGHT, SLUICE_QUEUE_MAX and SLUICE_QUEUE_TIMEOUT_MS. */
export interface AdmissionOptions {
  readonly maxInflight: number;
  readonly queueMax: number;
  readonly queueTimeoutMs: number;
  /** Times waits and arms the queue timeout; the real clock by default. */
  readonly clock?: Clock | undefined;
}

/** What one request brings to admission beyond its callbacks. */
export interface AdmissionRequest {
  /** Absolute deadline (the clock's `now()` ms; Sluice-Deadline-Ms): a request still waiting then gives up. */
  readonly deadline: number;
  /** Subscribes to the caller going away; a request still waiting then leaves the queue. */
  readonly onAbandon?: ((listener: () => void) => void) | undefined;
}

/**
 * The options of a request admitted at once. Its id only names it in p-queue's `runningTasks` (no signal, so it is
 * never removed by id); giving one spares p-queue making a unique id (a BigInt turned into a string) per request.
 */
const ADMITTED_AT_ONCE: Partial<WaitOptions> = Object.freeze({ id: 'admitted' });

/**
 * Bounded concurrency (p-queue, concurrency = SLUICE_MAX_INFLIGHT) with a bounded FIFO wait. A full queue refuses
 * at once; a waiting request leaves at once, through p-queue's abort signal, when it has waited
 * SLUICE_QUEUE_TIMEOUT_MS, when its deadline passes or when its caller goes away. p-queue's `pending` and `size`
 * are the only count of running and waiting requests.
 */
export class Admission {
  readonly #options: AdmissionOptions;
  readonly #clock: Clock;
  readonly #queue: PQueue<WaitQueue, WaitOptions>;
  /** The queue instance p-queue made from WaitQueue (it keeps it private), for the oldest wait. */
  #waiting: WaitQueue | undefined;

  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    const admission = this;
    this.#queue = new PQueue<WaitQueue, WaitOptions>({
      concurrency: options.maxInflight,
      queueClass: class extends WaitQueue {
        constructor() {
          super();
          admission.#waiting = this;
        }
      },
    });
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
  oldestWaitSeconds(now = this.#clock.now()): number {
    const since = this.#queue.size === 0 ? undefined : this.#waiting?.oldestSince;
    return since === undefined ? 0 : (now - since) / 1000;
  }

  /**
   * Calls `start` with the slot's `leave` when a slot is free (at once, synchronously, when one is and nobody
   * waits); the slot is held until `leave()` is called (once). Calls `refuse` instead with SLUICE_ERR_QUEUE_FULL at
   * once, or, while still waiting, SLUICE_ERR_QUEUE_TIMEOUT after SLUICE_QUEUE_TIMEOUT_MS, or
   * SLUICE_ERR_DEADLINE_EXPIRED when the request's deadline passes or its caller goes away (`start` then never
   * runs). `waited` receives the seconds spent waiting, when the request had to wait. `start` must not throw.
   */
  enter(
    request: AdmissionRequest,
    start: (leave: () => void) => void,
    refuse: (error: SluiceError) => void,
    waited?: (seconds: number) => void,
  ): void {
    const queue = this.#queue;
    // The task's promise is the slot: p-queue frees it when `leave` resolves the promise.
    if (queue.pending < this.#options.maxInflight && queue.size === 0) {
      void queue.add(() => new Promise<void>(start), ADMITTED_AT_ONCE);
      return;
    }
    if (queue.size >= this.#options.queueMax) {
      return refuse(
        new SluiceError(
          'SLUICE_ERR_QUEUE_FULL',
          `ERR ${queue.size} requests are already waiting for a Redis connection (SLUICE_QUEUE_MAX=${this.#options.queueMax})`,
        ),
      );
    }
    this.#wait(request, start, refuse, waited);
  }

  /** Resolves when nothing runs or waits. */
  onIdle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /** Queues a request behind the others, with a signal that only guards its wait. */
  #wait(
    request: AdmissionRequest,
    start: (leave: () => void) => void,
    refuse: (error: SluiceError) => void,
    waited: ((seconds: number) => void) | undefined,
  ): void {
    const since = this.#clock.now();
    const controller = new AbortController();
    let started = false;
    const giveUp = (error: SluiceError) => {
      if (!started) controller.abort(error);
    };
    const timeoutMs = this.#options.queueTimeoutMs;
    const deadlineFirst = request.deadline - since < timeoutMs;
    const timer = this.#clock.setTimeout(
      () => giveUp(deadlineFirst ? deadlineExpired('passed') : queueTimeout(timeoutMs)),
      deadlineFirst ? Math.max(0, request.deadline - since) : timeoutMs,
    );
    request.onAbandon?.(() => giveUp(deadlineExpired('went away')));
    this.#queue
      .add(
        () => {
          // Once running, the request is never abandoned: p-queue would free its slot while its commands run.
          started = true;
          this.#clock.clearTimeout(timer);
          waited?.((this.#clock.now() - since) / 1000);
          return new Promise<void>(start);
        },
        { signal: controller.signal, since },
      )
      .catch((reason: unknown) => {
        this.#clock.clearTimeout(timer);
        refuse(reason instanceof SluiceError ? reason : internal(reason));
      });
  }
}

function queueTimeout(timeoutMs: number): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_QUEUE_TIMEOUT',
    `ERR waited ${timeoutMs} ms for a Redis connection (SLUICE_QUEUE_TIMEOUT_MS); nothing was sent`,
  );
}

function deadlineExpired(what: 'passed' | 'went away'): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_DEADLINE_EXPIRED',
    what === 'passed'
      ? 'ERR the request deadline passed before its commands were sent; nothing was sent'
      : 'ERR the caller went away while the request waited for a Redis connection; nothing was sent',
  );
}

function internal(cause: unknown): SluiceError {
  return new SluiceError('SLUICE_ERR_INTERNAL', 'ERR admission failed', { cause });
}
