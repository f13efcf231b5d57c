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
 * The options of the task a turn adds. Its id only names it in p-queue's `runningTasks` (no signal, so it is never
 * removed by id); giving one spares p-queue making a unique id (a BigInt turned into a string) per task.
 */
const TURN_TASK: Partial<WaitOptions> = Object.freeze({ id: 'turn' });

/**
 * The requests admitted at once in one turn of the event loop. They run as one p-queue task: p-queue's `add`
 * (a promise, a closure, a Map entry and four events per task) cost ~8% of the broker's CPU with one task per
 * WebSocket frame, and a turn under load admits tens of frames. The task ends when the turn has ended and its
 * last member has left.
 */
interface Turn {
  /** Members still running. */
  running: number;
  /** Until the event loop's check phase; a request admitted at once joins the open turn. */
  open: boolean;
  /** Ends the turn's p-queue task. */
  end: () => void;
}

/**
 * Bounded concurrency (p-queue, concurrency = SLUICE_MAX_INFLIGHT) with a bounded FIFO wait. A full queue refuses
 * at once; a waiting request leaves at once, through p-queue's abort signal, when it has waited
 * SLUICE_QUEUE_TIMEOUT_MS, when its deadline passes or when its caller goes away. p-queue's `size` counts the
 * waiting requests; `pending` counts the running tasks, where one task is either a request that waited or a turn of
 * requests admitted at once. So that p-queue still starts a waiter exactly when fewer than SLUICE_MAX_INFLIGHT
 * requests run, its `concurrency` is lowered by the turns' surplus (members beyond the one slot each turn holds)
 * whenever somebody waits.
 */
export class Admission {
  readonly #options: AdmissionOptions;
  readonly #clock: Clock;
  readonly #queue: PQueue<WaitQueue, WaitOptions>;
  /** The queue instance p-queue made from WaitQueue (it keeps it private), for the oldest wait. */
  #waiting: WaitQueue | undefined;
  /** The turn requests admitted at once now join; undefined until one is. */
  #turn: Turn | undefined;
  /** Requests running in turns beyond the one p-queue task of each turn (-1 for a turn whose members all left). */
  #surplus = 0;
  readonly #endTurn = (): void => {
    const turn = this.#turn;
    this.#turn = undefined;
    if (turn === undefined) return;
    turn.open = false;
    if (turn.running === 0) this.#release(turn);
  };

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
    return this.#queue.pending + this.#surplus;
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
    if (this.running < this.#options.maxInflight && queue.size === 0) return this.#join(start);
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

  /** Runs `start` at once in the open turn, opening one (one p-queue task) if none is. */
  #join(start: (leave: () => void) => void): void {
    let turn = this.#turn;
    if (turn === undefined) {
      const opened: Turn = { running: 1, open: true, end: noop };
      this.#turn = turn = opened;
      this.#limitTasks();
      // Nobody waits and a slot is free, so p-queue starts the task now, synchronously, and `end` is set.
      void this.#queue.add(() => new Promise<void>((end) => (opened.end = end)), TURN_TASK);
      setImmediate(this.#endTurn);
    } else {
      turn.running++;
      this.#surplus++;
    }
    const member = turn;
    let left = false;
    start(() => {
      if (left) return;
      left = true;
      member.running--;
      this.#surplus--;
      if (!member.open && member.running === 0) this.#release(member);
      else if (this.#queue.size > 0) this.#limitTasks();
    });
  }

  /** Ends a turn whose members have all left: its task ends, and with it the slot it held. */
  #release(turn: Turn): void {
    this.#surplus++;
    turn.end();
    if (this.#queue.size > 0) this.#limitTasks();
  }

  /**
   * Lets p-queue run as many tasks as leave room for the turns' surplus, so that it starts a waiter exactly when
   * fewer than SLUICE_MAX_INFLIGHT requests run. Needed whenever somebody waits, and before a turn's task is added.
   */
  #limitTasks(): void {
    const tasks = this.#options.maxInflight - this.#surplus;
    if (this.#queue.concurrency !== tasks) this.#queue.concurrency = tasks;
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
    this.#limitTasks();
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

function noop(): void {}

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
