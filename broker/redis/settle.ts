// Waiting for a request's written commands: one outcome per command, an answer at the deadline if Redis is late,
// and a second callback once every command settled (what frees the admission slot).
import type { Command } from 'ioredis';
import { type Clock, type ClockTimer, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { Outcome } from './outcome.js';
import type { CommandOutcome, Telemetry } from '../telemetry.js';

/** How one request's commands are awaited. */
export interface SettleOptions {
  /** Commands in the request. */
  readonly count: number;
  /** Metric label per command (may be filled in after construction, before the first reply). */
  readonly labels: readonly string[];
  /** When the commands were handed to Redis (the clock's `now()`). */
  readonly written: number;
  /** Milliseconds after `written` when the caller is answered with SLUICE_ERR_REDIS_TIMEOUT for late commands. */
  readonly timeoutMs: number;
  /** The timer to share (see Timeouts), whose clock times the commands; a timer of its own on the real clock when absent. */
  readonly timeouts?: TimeoutGroup | undefined;
  readonly telemetry: Telemetry;
  /** Turns a rejection into the caller's Error and its metric outcome. */
  readonly classify: (error: unknown) => { error: Error; outcome: CommandOutcome };
  /**
   * Called once per settled command, with the clock's `now()` (the pool's in-flight count and progress); returns
   * the bytes its reply took on the Redis connection, counted against `maxReplyBytes`.
   */
  readonly onSettled?: ((now: number) => number | undefined) | undefined;
  /** SLUICE_MAX_REPLY_BYTES: replies past this many bytes in one request are dropped (see PendingReplies). */
  readonly maxReplyBytes?: number | undefined;
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
  #timeouts: TimeoutGroup;
  /** This request's place in its TimeoutGroup, once armed. */
  #place = -1;
  #left: number;
  #answered = false;
  /** Reply bytes of this request so far (as onSettled reports them). */
  #replyBytes = 0;
  /** Once the replies passed maxReplyBytes: what every later reply is answered with instead. */
  #tooLarge: SluiceError | undefined;
  #onSettled: SettleOptions['onSettled'];

  constructor(options: SettleOptions, answer: (outcomes: Outcome[]) => void, allSettled: () => void) {
    this.#options = options;
    this.#answer = answer;
    this.#allSettled = allSettled;
    this.#outcomes = new Array<Outcome | undefined>(options.count);
    this.#left = options.count;
    this.#onSettled = options.onSettled;
    this.#timeouts = options.timeouts ?? new TimeoutGroup(options.timeoutMs, realClock.now(), realClock);
  }

  /** Replaces `onSettled` of the options (a request written in slices watches its replies to write the next). */
  settledBy(onSettled: SettleOptions['onSettled']): void {
    this.#onSettled = onSettled;
  }

  /** Whether the caller was answered (every command settled, or the timeout passed). */
  get answered(): boolean {
    return this.#answered || this.#left === 0;
  }

  /** Starts the timeout; called once the commands were handed over (a failure before that answers by itself). */
  armTimeout(): void {
    this.#place = this.#timeouts.join(this);
  }

  /**
   * Moves the timeout to `group` (made now): a request written in slices restarts it with each slice, since
   * SLUICE_COMMAND_TIMEOUT_MS runs from when a command is written. No-op before armTimeout or once answered.
   */
  rearmTimeout(group: TimeoutGroup): void {
    if (this.#place < 0 || this.#answered || this.#left === 0) return;
    this.#timeouts.settled(this.#place);
    this.#timeouts = group;
    this.#place = group.join(this);
  }

  replied(index: number, reply: Outcome): void {
    this.#done(index, reply, 'ok');
  }

  failed(index: number, error: unknown): void {
    const { error: e, outcome } = this.#options.classify(error);
    this.#done(index, e, outcome);
  }

  /** Settles command `index` with an outcome already classified (one error shared by many commands). */
  settle(index: number, outcome: Outcome, kind: CommandOutcome): void {
    this.#done(index, outcome, kind);
  }

  /** The timeout passed: answers now, the late commands as SLUICE_ERR_REDIS_TIMEOUT. No-op once answered. */
  expire(): void {
    if (this.#answered || this.#left === 0) return;
    this.#answered = true;
    const error = new SluiceError(
      'SLUICE_ERR_REDIS_TIMEOUT',
      `ERR no reply from Redis within ${Math.round(this.#options.timeoutMs)} ms (SLUICE_COMMAND_TIMEOUT_MS or the request deadline); the command may have run`,
    );
    this.#answer(Array.from(this.#outcomes, (o) => o ?? error));
  }

  #done(index: number, outcome: Outcome, kind: CommandOutcome): void {
    const { labels, written, telemetry, maxReplyBytes } = this.#options;
    const now = this.#timeouts.clock.now();
    const bytes = this.#onSettled?.(now);
    if (bytes !== undefined && maxReplyBytes !== undefined) {
      this.#replyBytes += bytes;
      // The command ran; only its reply is dropped, so that a request cannot make the broker hold more than this.
      if (this.#replyBytes > maxReplyBytes && !(outcome instanceof Error))
        outcome = this.#replyTooLarge(maxReplyBytes);
    }
    this.#outcomes[index] = outcome;
    telemetry.commandDone(
      labels[index] ?? 'other',
      (now - written) / 1000,
      this.#answered ? 'timeout' : kind,
    );
    if (--this.#left > 0) return;
    if (this.#place >= 0) this.#timeouts.settled(this.#place);
    if (!this.#answered) this.#answer(this.#outcomes as Outcome[]);
    this.#allSettled();
  }

  #replyTooLarge(max: number): SluiceError {
    if (this.#tooLarge === undefined) {
      this.#tooLarge = replyTooLarge(max);
      this.#options.telemetry.refused('reply_too_large');
    }
    return this.#tooLarge;
  }
}

/** The error that replaces each reply past SLUICE_MAX_REPLY_BYTES in one request (one instance per request). */
function replyTooLarge(this: void, max: number): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_REPLY_TOO_LARGE',
    `ERR the replies of this request passed ${max} bytes (SLUICE_MAX_REPLY_BYTES); this command ran, its reply was dropped`,
  );
}

/** How long a TimeoutGroup takes new members after it was made (ms): a member may be answered this much late. */
const GROUP_SPAN_MS = 1;

/**
 * One timer for the requests written within GROUP_SPAN_MS with the same timeout: with dozens of requests per
 * batch, one setTimeout and clearTimeout per batch instead of per request (bench/results/code-comment-figures.md).
 * It fires
 * GROUP_SPAN_MS after `ms` so that no member is answered early. A member that settled is let go at once (a stalled
 * member must not keep its group's others alive), and the timer is cleared once every member settled.
 */
export class TimeoutGroup {
  readonly ms: number;
  readonly createdAt: number;
  /** Arms the timer, and times the members' commands. */
  readonly clock: Clock;
  /** Members not settled yet; a settled member's place is emptied so that it can be collected. */
  #members: (PendingReplies | undefined)[] = [];
  #open = 0;
  #timer: ClockTimer | undefined;

  constructor(ms: number, createdAt: number, clock: Clock = realClock) {
    this.ms = ms;
    this.createdAt = createdAt;
    this.clock = clock;
  }

  /** Whether a request written at `now` with `ms` may share this timer. */
  takes(ms: number, now: number): boolean {
    // A member that has not settled keeps the timer armed; once none is left the timer is cleared for good.
    return ms === this.ms && now - this.createdAt < GROUP_SPAN_MS && this.#open > 0;
  }

  /** Adds a member; returns its place, to hand back to `settled`. */
  join(member: PendingReplies): number {
    this.#open++;
    this.#timer ??= this.clock.setTimeout(this.#expire, this.ms + GROUP_SPAN_MS);
    return this.#members.push(member) - 1;
  }

  /** The member at `place` settled every command. */
  settled(place: number): void {
    this.#members[place] = undefined;
    if (--this.#open > 0) return;
    this.clock.clearTimeout(this.#timer);
    this.#members = [];
  }

  readonly #expire = (): void => {
    const members = this.#members;
    this.#members = [];
    for (const member of members) member?.expire();
  };
}

/** Hands out TimeoutGroups: the current one while it takes new members, else a new one. */
export class Timeouts {
  readonly #clock: Clock;
  #current: TimeoutGroup | undefined;

  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  groupFor(ms: number, now: number): TimeoutGroup {
    if (this.#current?.takes(ms, now)) return this.#current;
    this.#current = new TimeoutGroup(ms, now, this.#clock);
    return this.#current;
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
  pending.armTimeout();
  commands.forEach((command, index) => {
    command.promise.then(
      (reply: Outcome) => pending.replied(index, reply),
      (error: unknown) => pending.failed(index, error),
    );
  });
}
