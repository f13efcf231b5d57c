// How both executors read a request's outcomes the same way: items refused while preparing left out and merged back,
// reply rewrites applied, EXEC's answer read. Pure.
import { SluiceError } from '../errors.js';
import type { PreparedCommand } from '../redis/command.js';
import type { Outcome } from '../redis/outcome.js';

/** The items of a pipeline that are sent: all of them, unless some were refused while preparing. */
export function sendableOf(items: readonly (PreparedCommand | SluiceError)[]): readonly PreparedCommand[] {
  for (const item of items)
    if (item instanceof SluiceError)
      return items.filter((i): i is PreparedCommand => !(i instanceof SluiceError));
  return items as readonly PreparedCommand[];
}

/**
 * A pipeline's answer: the outcomes of the commands sent (`sent`, in order, their reply rewrites applied) put back
 * between the items refused while preparing, which keep their error.
 */
export function mergeOutcomes(
  items: readonly (PreparedCommand | SluiceError)[],
  sent: readonly PreparedCommand[],
  outcomes: Outcome[],
): Outcome[] {
  mapReplies(sent, outcomes);
  if (sent.length === items.length) return outcomes;
  let next = 0;
  return items.map((item) => (item instanceof SluiceError ? item : outcomes[next++]!));
}

/**
 * A transaction's answer from its outcomes (MULTI, each command's QUEUED, EXEC): EXEC's items, or one Error — the
 * broker's own refusal, the first command that failed to queue (as `queueError` presents it), or EXEC's error.
 */
export function execResult(
  items: readonly PreparedCommand[],
  outcomes: Outcome[],
  queueError: (error: Error) => Error = (error) => error,
): Outcome[] | Error {
  for (const outcome of outcomes) if (outcome instanceof SluiceError) return outcome;
  for (let i = 1; i < outcomes.length - 1; i++) {
    const outcome = outcomes[i];
    if (outcome instanceof Error) return queueError(outcome);
  }
  const exec = outcomes[outcomes.length - 1]!;
  if (exec instanceof Error) return exec;
  if (!Array.isArray(exec)) return new SluiceError('SLUICE_ERR_INTERNAL', 'ERR EXEC did not return an array');
  return mapReplies(items, exec);
}

/** Applies each command's reply rewrite (see PreparedCommand.mapReply) to its successful outcome, in place. */
function mapReplies(items: readonly PreparedCommand[], outcomes: Outcome[]): Outcome[] {
  for (let i = 0; i < items.length; i++) {
    const mapReply = items[i]!.mapReply;
    const outcome = outcomes[i];
    if (mapReply && outcome !== undefined && !(outcome instanceof Error)) outcomes[i] = mapReply(outcome);
  }
  return outcomes;
}
