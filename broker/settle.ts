// Waiting for a request's written commands: one outcome per command, an answer at the deadline if Redis is late,
// and a second promise that resolves only when every command settled (what frees the admission slot).
import type { Command } from 'ioredis';
import { SluiceError } from './errors.js';
import type { Outcome } from './outcome.js';
import type { CommandOutcome, Telemetry } from './telemetry.js';

/** How one request's commands are awaited. */
export interface SettleOptions {
  readonly commands: readonly Command[];
  /** Metric label per command. */
  readonly labels: readonly string[];
  /** When the commands were handed to Redis (performance.now()). */
  readonly written: number;
  /** Milliseconds after `written` when the caller is answered with SLUICE_ERR_REDIS_TIMEOUT for late commands. */
  readonly timeoutMs: number;
  readonly telemetry: Telemetry;
  /** Turns a rejection into the caller's Error and its metric outcome. */
  readonly classify: (error: unknown) => { error: Error; outcome: CommandOutcome };
  /** Called once per settled command (the pool's in-flight count). */
  readonly onSettled?: () => void;
}

/**
 * Calls `answer` once: with every outcome when all settled, or at the timeout with the late ones as
 * SLUICE_ERR_REDIS_TIMEOUT. Calls `allSettled` when every command settled, even after a timeout (what frees the
 * admission slot).
 */
export function settleCommands(
  options: SettleOptions,
  answer: (outcomes: Outcome[]) => void,
  allSettled: () => void,
): void {
  const { commands, labels, written, timeoutMs, telemetry, classify, onSettled } = options;
  const outcomes = new Array<Outcome | undefined>(commands.length);
  let left = commands.length;
  let answered = false;
  const timer = setTimeout(() => {
    answered = true;
    const error = new SluiceError(
      'SLUICE_ERR_REDIS_TIMEOUT',
      `ERR no reply from Redis within ${Math.round(timeoutMs)} ms (SLUICE_COMMAND_TIMEOUT_MS or the request deadline); the command may have run`,
    );
    answer(Array.from(outcomes, (o) => o ?? error));
  }, timeoutMs);
  const done = (index: number, outcome: Outcome, kind: CommandOutcome) => {
    outcomes[index] = outcome;
    onSettled?.();
    telemetry.commandDone(
      labels[index] ?? 'other',
      (performance.now() - written) / 1000,
      answered ? 'timeout' : kind,
    );
    if (--left > 0) return;
    clearTimeout(timer);
    if (!answered) answer(outcomes as Outcome[]);
    allSettled();
  };
  commands.forEach((command, index) => {
    command.promise.then(
      (reply: Outcome) => done(index, reply, 'ok'),
      (error: unknown) => {
        const { error: e, outcome } = classify(error);
        done(index, e, outcome);
      },
    );
  });
}
