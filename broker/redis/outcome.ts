// What a command comes to (a reply or an Error) and a request's timing: shared by the executors, the pools and the
// transports, so that pools never import the executor.
import { ReplyError } from 'ioredis';
import { SluiceError } from '../errors.js';
import type { Reply } from './command.js';
import { NotSentError } from './batcher.js';
import type { CommandOutcome } from '../telemetry.js';
import type { RequestSync } from './replication.js';

/**
 * What one command came to: a reply, or an Error at the top level — a SluiceError from the broker or Redis's own
 * error (passed through verbatim).
 */
export type Outcome = Reply;

/** A request's timing: when it must be answered (milliseconds on the broker's clock, see clock.ts). */
export interface RequestTiming {
  /** Absolute deadline of the request (from the caller's own deadline); commands are never written after it. */
  readonly deadline: number;
  /** Aborted when the caller went away before its answer was sent (frees a blocking connection at once). */
  readonly signal?: AbortSignal;
  /**
   * Subscribes to the caller going away before its answer was sent: a request still waiting for admission then
   * leaves the queue. A hook rather than a signal, so that a request admitted at once costs nothing.
   */
  readonly onAbandon?: (listener: () => void) => void;
  /**
   * Whether the caller's answers are expected to be large (its flow's recent answers, see flow.ts): the pool then
   * puts the request on a connection that may carry large replies, not on the one kept for small ones.
   */
  readonly largeReplies?: boolean;
  /** Read-your-writes of the request (issue 20): its floor in, the primary's position after its writes out. */
  readonly sync?: RequestSync | undefined;
}

/** Turns a failure into the Error a caller sees, and how it ended for the command-outcome metric. */
export function outcomeOf(error: unknown): { error: Error; outcome: CommandOutcome } {
  if (error instanceof ReplyError) return { error: error as Error, outcome: 'redis_error' };
  if (error instanceof SluiceError) return { error, outcome: 'refused' };
  if (error instanceof NotSentError) {
    return {
      error: new SluiceError(
        'SLUICE_ERR_REDIS_UNAVAILABLE',
        `ERR Redis is unavailable: ${error.message}; nothing was sent`,
      ),
      outcome: 'unavailable',
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    error: new SluiceError(
      'SLUICE_ERR_REDIS_CONNECTION_LOST',
      `ERR the Redis connection closed after the command was written (${message}); it may have run and is not re-sent`,
      { cause: error },
    ),
    outcome: 'connection_lost',
  };
}
