// pipeline() and multi(): chainable builders whose exec() sends every queued command in one request.

import type { Arg } from './args.js';
import type { CommandName } from './commands.js';
import type { SluiceError } from './errors.js';
import { withCommands } from './proxy.js';

/** Builder methods of a {@link Pipeline}; every command method queues a command and returns the builder. */
export interface PipelineMethods<V> {
  /** Queues any command by name: `.call('SET', 'k', 'v')`. */
  call(name: string, ...args: Arg[]): Pipeline<V>;
  /**
   * Sends the queued commands as one request and resolves to one entry per command, in order: its value, or the
   * `SluiceError` it failed with (not thrown). For `multi()`, rejects with a `SluiceError` when Redis discarded
   * the transaction (nothing ran). An empty builder resolves to `[]` without a request.
   */
  exec(): Promise<Array<V | SluiceError>>;
  /** Number of queued commands. */
  readonly length: number;
}

/** A pipeline or transaction builder: `.set('k', 'v').get('k').exec()`. */
export type Pipeline<V> = PipelineMethods<V> & {
  [K in Exclude<CommandName, keyof PipelineMethods<V>>]: (...args: Arg[]) => Pipeline<V>;
};

/** Queues commands for {@link Pipeline}; `send` performs the request. */
export class PipelineBuilder<V> implements PipelineMethods<V> {
  readonly #commands: Arg[][] = [];
  readonly #send: (commands: Arg[][]) => Promise<Array<V | SluiceError>>;
  readonly #self: Pipeline<V>;

  /** @param send sends the commands as one `/pipeline` or `/multi-exec` request. */
  constructor(send: (commands: Arg[][]) => Promise<Array<V | SluiceError>>) {
    this.#send = send;
    this.#self = withCommands(this, (words, args) => {
      this.#commands.push([...words, ...args]);
      return this.#self;
    }) as unknown as Pipeline<V>;
  }

  /** The builder as seen by users, with a method per command. */
  get proxy(): Pipeline<V> {
    return this.#self;
  }

  call(name: string, ...args: Arg[]): Pipeline<V> {
    this.#commands.push([name, ...args]);
    return this.#self;
  }

  get length(): number {
    return this.#commands.length;
  }

  exec(): Promise<Array<V | SluiceError>> {
    return this.#commands.length === 0 ? Promise.resolve([]) : this.#send(this.#commands.slice());
  }
}
