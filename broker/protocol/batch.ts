// A request's several commands, handled alike on REST and WebSocket: a pipeline's prepared each on its own, a
// transaction's all or none, and the one error that answers a batch that failed as a whole. Pure.
import { SluiceError } from '../errors.js';
import type { Outcome } from '../redis/outcome.js';
import type { Principal } from './auth.js';
import type { CommandPreparer, PreparedCommand } from './prepare.js';
import type { Arg } from './request.js';

/** A pipeline's commands, each prepared or refused on its own: a refused one is answered in its place. */
export function preparePipeline(
  preparer: CommandPreparer,
  commands: readonly (readonly Arg[])[],
  principal: Principal,
): (PreparedCommand | SluiceError)[] {
  return commands.map((argv) => preparer.prepare(argv, principal));
}

/**
 * A transaction's commands, every one prepared, or the error of the first refused: a refused command discards the
 * whole transaction, as a queuing error does in Redis.
 */
export function prepareTransaction(
  preparer: CommandPreparer,
  commands: readonly (readonly Arg[])[],
  principal: Principal,
): PreparedCommand[] | SluiceError {
  const prepared: PreparedCommand[] = [];
  for (const argv of commands) {
    const item = preparer.prepare(argv, principal);
    if (item instanceof SluiceError) return item;
    prepared.push(item);
  }
  return prepared;
}

/** When every item failed with the same broker-side error (Redis down, queue full, timeout), answer with it. */
export function sharedFailure(outcomes: readonly Outcome[]): SluiceError | undefined {
  const first = outcomes[0];
  if (!(first instanceof SluiceError) || first.status < 500) return undefined;
  return outcomes.every((o) => o === first) ? first : undefined;
}
