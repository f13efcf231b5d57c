// Waiting for a request's written commands: one outcome per command, an answer at the deadline if Redis is late,
// and a second callback once every command settled (what frees the admission slot).
import type { Command } from 'ioredis';
import { SluiceError } from './errors.js';
import type { Outcome } from './outcome.js';
import type { CommandOutcome, Telemetry } from './telemetry.js';

/** How one request's commands are awaited. */
export interface SettleOptions {
  /** Commands in the request. */
  readonly count: number;
  /** Metric label per command (may be filled in after construction, before the first reply). */
  readonly labels: readonly string[];
  /** When the commands were handed to Redis (performance.now()). */
  readonly written: number;
  /** Milliseconds after `written` when the caller is answered with SLUICE_ERR_REDIS_TIMEOUT for late commands. */
  readonly timeoutMs: number;
  readonly telemetry: Telemetry;
  /** Turns a rejection into the caller's Error and its metric outcome. */
  readonly classify: (error: unknown) => { error: Error; outcome: CommandOutcome };
  /** Called once per settled command, with performance.now() (the pool's in-flight count and progress). */
  readonly onSettled?: ((now: number) => void) | undefined;
}

/** Where each command of a request reports its reply or its failure, by index. */
export interface ReplySink {
  replied(index: number, reply: Outcome): void;
  failed(index: number, error: unknown): void;
}

/**
 * One request's commands in flight. Calls `answer` once: with every outcome when all settled, or at the timeout
 * with the late ones as SLUICE_ERR_REDIS_TIMEOUT. Calls `allSettled` when every command settled, even after a
 * timeout (what frees the admission slot).
 */
export class PendingReplies implements ReplySink {
  readonly #options: SettleOptions;
  readonly #answer: (outcomes: Outcome[]) => void;
  readonly #allSettled: () => void;
  readonly #outcomes: (Outcome | undefined)[];
  readonly #timer: NodeJS.Timeout;
  #left: number;
  #answered = false;

  constructor(options: SettleOptions, answer: (outcomes: Outcome[]) => void, allSettled: () => void) {
    this.#options = options;
    this.#answer = answer;
    this.#allSettled = allSettled;
    this.#outcomes = new Array<Outcome | undefined>(options.count);
    this.#left = options.count;
    this.#timer = setTimeout(this.#timedOut, options.timeoutMs);
  }

  replied(index: number, reply: Outcome): void {
    this.#done(index, reply, 'ok');
  }

  failed(index: number, error: unknown): void {
    const { error: e, outcome } = this.#options.classify(error);
    this.#done(index, e, outcome);
  }

  readonly #timedOut = (): void => {
    this.#answered = true;
    const error = new SluiceError(
      'SLUICE_ERR_REDIS_TIMEOUT',
      `ERR no reply from Redis within ${Math.round(this.#options.timeoutMs)} ms (SLUICE_COMMAND_TIMEOUT_MS or the request deadline); the command may have run`,
    );
    this.#answer(Array.from(this.#outcomes, (o) => o ?? error));
  };

  #done(index: number, outcome: Outcome, kind: CommandOutcome): void {
    const { labels, written, telemetry, onSettled } = this.#options;
    const now = performance.now();
    this.#outcomes[index] = outcome;
    onSettled?.(now);
    telemetry.commandDone(labels[index] ?? 'other', (now - written) / 1000, this.#answered ? 'timeout' : kind);
    if (--this.#left > 0) return;
    clearTimeout(this.#timer);
    if (!this.#answered) this.#answer(this.#outcomes as Outcome[]);
    this.#allSettled();
  }
}

/** Settles ioredis Commands (each with its own promise) into a PendingReplies; see there. */
export function settleCommands(
  commands: readonly Command[],
  options: Omit<SettleOptions, 'count'>,
  answer: (outcomes: Outcome[]) => void,
  allSettled: () => void,
): void {
  const pending = new PendingReplies({ ...options, count: commands.length }, answer, allSettled);
  commands.forEach((command, index) => {
    command.promise.then(
      (reply: Outcome) => pending.replied(index, reply),
      (error: unknown) => pending.failed(index, error),
    );
  });
}
