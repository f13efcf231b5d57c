// The load-generator side: argument passing, result reporting and a latency recorder with a measured window.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { ChildMessage, LoadResult } from './loadgen.js';

/** Runs `body` with the JSON arguments from argv, sends its result to the harness and exits. */
export function loadMain<A, R>(body: (args: A) => Promise<R>): void {
  const send = (message: ChildMessage): Promise<void> =>
    new Promise((r) => (process.send ? process.send(message, () => r()) : r()));
  let args: A;
  try {
    args = JSON.parse(process.argv[2] ?? '{}') as A;
  } catch (err) {
    void send({ type: 'error', message: `bad arguments: ${(err as Error).message}` }).then(() =>
      process.exit(2),
    );
    return;
  }
  body(args).then(
    async (result) => {
      await send({ type: 'result', result });
      process.exit(0);
    },
    async (err: unknown) => {
      await send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
}

/** Sends a progress message to the harness. */
export function progress(data: Record<string, unknown>): void {
  process.send?.({ type: 'progress', data } satisfies ChildMessage);
}

/** Resolves with the next message from the harness whose type is `type`. */
export function waitForParent(type: string): Promise<Record<string, unknown>> {
  return new Promise((resolveMessage) => {
    const listener = (message: Record<string, unknown>): void => {
      if (message['type'] === type) {
        process.off('message', listener);
        resolveMessage(message);
      }
    };
    process.on('message', listener);
  });
}

/**
 * Counts operations and their latencies, but only inside the measured window: warm-up traffic is ignored.
 * Latencies are kept in a nanosecond HDR histogram (node:perf_hooks), so recording costs no allocation.
 */
export class Recorder {
  readonly #histogram: RecordableHistogram = createHistogram();
  #measuring = false;
  #stopped = false;
  #ops = 0;
  #errors = 0;
  #firstError: string | undefined;
  #startedAt = 0n;
  #endedAt = 0n;

  /** False once the run is over: loops stop issuing new work. */
  get running(): boolean {
    return !this.#stopped;
  }

  /** Records one completed operation that started at `startNs` (from `process.hrtime.bigint()`), weighing `ops`. */
  done(startNs: bigint, ops = 1): void {
    if (!this.#measuring) return;
    const ns = Number(process.hrtime.bigint() - startNs);
    this.#histogram.record(ns > 0 ? ns : 1);
    this.#ops += ops;
  }

  /** Records one failed operation. */
  failed(err: unknown): void {
    if (!this.#measuring && !this.#stopped) return;
    this.#errors += 1;
    this.#firstError ??= err instanceof Error ? err.message : String(err);
  }

  /** Starts the measured window now. */
  begin(): void {
    this.#measuring = true;
    this.#startedAt = process.hrtime.bigint();
    process.send?.({ type: 'progress', data: { window: 'begin' } });
  }

  /** Ends the measured window and tells loops to stop. */
  end(): void {
    if (this.#stopped) return;
    this.#endedAt = process.hrtime.bigint();
    this.#measuring = false;
    this.#stopped = true;
    process.send?.({ type: 'progress', data: { window: 'end' } });
  }

  /** Warm up for `warmupS`, measure for `durationS`, then stop; resolves when the window closes. */
  async window(warmupS: number, durationS: number): Promise<void> {
    await new Promise((r) => setTimeout(r, warmupS * 1000));
    this.begin();
    await new Promise((r) => setTimeout(r, durationS * 1000));
    this.end();
  }

  /** The result of the measured window. */
  result(): LoadResult {
    const end = this.#endedAt === 0n ? process.hrtime.bigint() : this.#endedAt;
    const empty = this.#histogram.count === 0;
    return {
      ops: this.#ops,
      seconds: Number(end - this.#startedAt) / 1e9,
      p50Ms: empty ? Number.NaN : this.#histogram.percentile(50) / 1e6,
      p99Ms: empty ? Number.NaN : this.#histogram.percentile(99) / 1e6,
      errors: this.#errors,
      firstError: this.#firstError,
    };
  }
}
