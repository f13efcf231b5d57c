// The process's bound on Redis connections (SLUICE_MAX_REDIS_CONNECTIONS), shared by every pool of every tenant.
import { SluiceError } from '../errors.js';

/**
 * Counts the Redis connections the broker holds and refuses one past the bound. Every opener takes before it opens
 * and gives back once the connection is closed for good (a reconnecting connection keeps its place).
 */
export class ConnectionBudget {
  readonly #max: number;
  #held = 0;

  /** `max`: SLUICE_MAX_REDIS_CONNECTIONS. */
  constructor(max: number) {
    this.#max = max;
  }

  get held(): number {
    return this.#held;
  }

  get max(): number {
    return this.#max;
  }

  /** Takes `count` connections, or says why not; `what` names them in the error (e.g. `a blocking connection of tenant "a"`). */
  take(what: string, count = 1): SluiceError | undefined {
    if (this.#held + count > this.#max) {
      return new SluiceError(
        'SLUICE_ERR_REDIS_CONNECTIONS_LIMIT',
        `ERR ${what} was not opened: the broker holds ${this.#held} Redis connections (SLUICE_MAX_REDIS_CONNECTIONS=${this.#max}); nothing was sent`,
      );
    }
    this.#held += count;
    return undefined;
  }

  give(count = 1): void {
    this.#held = Math.max(0, this.#held - count);
  }
}

/** A budget that never refuses (modules built alone, in tests). */
export const UNBOUNDED = new ConnectionBudget(Number.MAX_SAFE_INTEGER);
