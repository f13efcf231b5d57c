// The queue class admission gives p-queue: FIFO, and a waiter that gives up leaves it in O(1) wherever it stands.
import { performance } from 'node:perf_hooks';
import type { Queue, QueueAddOptions } from 'p-queue';

/** A queued task as p-queue hands it over (its RunFunction type is not exported). */
type RunFunction = () => Promise<unknown>;

/** What admission passes to `PQueue.add` beyond p-queue's own options. */
export interface WaitOptions extends QueueAddOptions {
  /** When the request started waiting (admission's clock), for the oldest-wait saturation signal. */
  readonly since?: number;
}

/** One queued task, linked both ways so that it can be unlinked without a search. */
interface Entry {
  readonly run: RunFunction;
  readonly id: string | undefined;
  readonly since: number;
  previous: Entry | undefined;
  next: Entry | undefined;
}

/**
 * A FIFO for p-queue's `queueClass` option. p-queue's own PriorityQueue removes an aborted task with
 * findIndex + splice (O(n): 10,000 waiters at SLUICE_QUEUE_MAX's default); here p-queue's `remove(id)` finds the
 * entry in a Map and unlinks it. Only tasks added with a signal can be removed (p-queue calls `remove` from its
 * abort listener), so only they are indexed: a request admitted at once costs no Map entry.
 * Priorities are not used by admission (every request is equal, FIFO).
 */
export class WaitQueue implements Queue<RunFunction, WaitOptions> {
  #head: Entry | undefined;
  #tail: Entry | undefined;
  #size = 0;
  readonly #removable = new Map<string, Entry>();

  /** Tasks waiting. */
  get size(): number {
    return this.#size;
  }

  /** When the oldest waiting task started waiting (admission's clock), or undefined when none waits. */
  get oldestSince(): number | undefined {
    return this.#head?.since;
  }

  enqueue(run: RunFunction, options?: Partial<WaitOptions>): void {
    const id = options?.signal ? options.id : undefined;
    const entry: Entry = {
      run,
      id,
      since: options?.since ?? performance.now(),
      previous: this.#tail,
      next: undefined,
    };
    if (this.#tail) this.#tail.next = entry;
    else this.#head = entry;
    this.#tail = entry;
    this.#size++;
    if (id !== undefined) this.#removable.set(id, entry);
  }

  dequeue(): RunFunction | undefined {
    const entry = this.#head;
    if (!entry) return undefined;
    this.#unlink(entry);
    return entry.run;
  }

  /** Called by p-queue when a queued task's signal aborts. */
  remove(id: string): void {
    const entry = this.#removable.get(id);
    if (entry) this.#unlink(entry);
  }

  /** Every waiting task of `priority` (always 0 here: admission adds none with another). */
  filter(options: Readonly<Partial<WaitOptions>>): RunFunction[] {
    if ((options.priority ?? 0) !== 0) return [];
    const runs: RunFunction[] = [];
    for (let entry = this.#head; entry; entry = entry.next) runs.push(entry.run);
    return runs;
  }

  setPriority(): void {
    throw new TypeError('admission queues requests in arrival order; priorities are not supported');
  }

  #unlink(entry: Entry): void {
    if (entry.previous) entry.previous.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.previous = entry.previous;
    else this.#tail = entry.previous;
    entry.previous = undefined;
    entry.next = undefined;
    this.#size--;
    if (entry.id !== undefined) this.#removable.delete(entry.id);
  }
}
