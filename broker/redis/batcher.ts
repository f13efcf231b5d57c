// Collects the commands that arrive in one event-loop turn and writes them to a connection as one pipelined write.
import type { Command, Redis } from 'ioredis';

/** A command rejected before it was written: it never reached Redis, so sending it again is safe. */
export class NotSentError extends Error {
  override readonly name = 'NotSentError';
}

/** Observes each pipelined write (for the batch-size metric). */
export type BatchObserver = (commands: number) => void;

/**
 * Per-connection write batching. Commands queued during one turn of the event loop (every HTTP request and
 * WebSocket frame parsed in the same poll phase) are flushed together in `setImmediate`, corked into one write.
 * A request's commands are queued contiguously, so they stay in order and a MULTI…EXEC block is never split.
 */
export class Batcher {
  readonly #redis: Redis;
  readonly #observe: BatchObserver | undefined;
  #pending: Command[] = [];
  #scheduled = false;
  /** Asked at each flush for a command to write after the batch (see `trailer`). */
  #trailer: (() => Command | undefined) | undefined;

  constructor(redis: Redis, observe?: BatchObserver) {
    this.#redis = redis;
    this.#observe = observe;
  }

  /**
   * Sets what is asked, at each flush, for one command to write last in the batch (the ROLE that tells the primary's
   * offset after the batch's writes, see PooledConnection.offsetAfterBatch).
   */
  trailer(make: () => Command | undefined): void {
    this.#trailer = make;
  }

  /** Queues commands for the next flush. Each settles through its own promise. */
  write(commands: readonly Command[]): void {
    for (const command of commands) this.#pending.push(command);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    const trailer = this.#trailer?.();
    if (trailer) batch.push(trailer);
    const redis = this.#redis;
    const stream = redis.stream;
    if (redis.status !== 'ready' || stream === undefined || !stream.writable) {
      const error = new NotSentError('the Redis connection went down before the commands were written');
      for (const command of batch) command.reject(error);
      return;
    }
    // The batch goes out as one string (a chunk per Buffer argument) instead of one writev chunk per command: the
    // kernel and libuv then handle one buffer per batch. Each command is queued for its reply as ioredis's
    // sendCommand would queue it; sendCommand's other work, paid per command, does not apply here (figures for both:
    // bench/results/code-comment-figures.md): the connection is ready and writable (checked above), and the commands
    // that change a connection's state (SELECT, QUIT, SUBSCRIBE, MONITOR, blocking commands) never reach the main
    // pool (protocol/classify.ts refuses or routes them).
    const collector = new WriteCollector();
    const queue = redis.commandQueue;
    const select = redis.condition?.select ?? 0;
    for (const command of batch) {
      collector.write(command.toWritable(stream));
      queue.push({ command, stream, select });
    }
    const chunks = collector.chunks();
    if (chunks.length === 1) stream.write(chunks[0]!);
    else {
      stream.cork();
      for (const chunk of chunks) stream.write(chunk);
      stream.uncork();
    }
    this.#observe?.(batch.length);
  };
}

/** The stream ioredis writes a batch's commands to: runs of strings are joined, Buffers kept as they are. */
class WriteCollector {
  #text = '';
  readonly #chunks: (string | Buffer)[] = [];

  write(chunk: string | Buffer): boolean {
    if (typeof chunk === 'string') this.#text += chunk;
    else {
      if (this.#text !== '') this.#chunks.push(this.#text);
      this.#text = '';
      this.#chunks.push(chunk);
    }
    return true;
  }

  chunks(): (string | Buffer)[] {
    if (this.#text !== '') this.#chunks.push(this.#text);
    this.#text = '';
    return this.#chunks;
  }
}
