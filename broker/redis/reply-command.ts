// A Command whose reply goes straight to its request, without the promise ioredis makes for every command.
import { Command } from 'ioredis';
import type { Outcome } from './outcome.js';
import type { Arg } from './command.js';
import type { ReplySink } from './settle.js';

/** The parts of ioredis's Command this class relies on that its typings keep private. */
interface CommandInternals {
  name: string;
  args: unknown[];
  transformed: boolean;
  isResolved: boolean;
  stringifyArguments(): void;
  transformReply(reply: unknown): unknown;
  _clearTimers(): void;
}

/** A ReplyCommand as its prototype methods see it. */
type Settling = CommandInternals & { readonly sink: ReplySink; readonly index: number; settled: boolean };

const NO_ARGS: Arg[] = [];

/** Names remembered per flag by checkFlag below; names past this many (arbitrary unknown commands) are not. */
const MAX_FLAG_MEMO = 4096;

/**
 * ioredis asks `Command.checkFlag` twice for every reply it dispatches (does the command enter or leave subscriber
 * mode?), and the function lower-cases the name and looks it up each time: two strings and two string-table lookups
 * per command, on every reply (measured: bench/results/code-comment-figures.md). The answer depends on the flag and
 * the name only, so it is remembered, for every ioredis connection in the process.
 */
function memoiseCheckFlag(): void {
  const command = Command as unknown as { checkFlag(flagName: string, commandName: string): boolean };
  // an ioredis without it fails the start-up check (ioredis-check.ts) instead of this import
  if (typeof command.checkFlag !== 'function') return;
  const checkFlag = command.checkFlag.bind(Command);
  const memo = new Map<string, Map<string, boolean>>();
  command.checkFlag = (flagName, commandName) => {
    let names = memo.get(flagName);
    if (names === undefined) {
      names = new Map();
      memo.set(flagName, names);
    }
    let flagged = names.get(commandName);
    if (flagged === undefined) {
      flagged = checkFlag(flagName, commandName);
      if (names.size < MAX_FLAG_MEMO) names.set(commandName, flagged);
    }
    return flagged;
  };
}
memoiseCheckFlag();

const commandStatics = Command as unknown as {
  _transformer: { argument: Record<string, ((args: unknown[]) => unknown[]) | undefined> };
};

/**
 * One command of a request on the main pool. ioredis settles a command by calling its `resolve(reply)` or
 * `reject(error)` (DataHandler, connection loss, the offline checks of sendCommand); here those report to the
 * request's ReplySink by index. ioredis's constructor would also make a promise with two closures per command,
 * which nothing here needs and which cost a visible share of the broker's CPU (bench/results/code-comment-figures.md);
 * `initPromise` below skips that. `promise` stays
 * undefined: nothing on the main pool's path reads it (sendCommand only returns it).
 */
export class ReplyCommand extends Command {
  readonly sink: ReplySink;
  readonly index: number;
  /** Set by the first resolve or reject; a promise would ignore any later one, and so does this. */
  settled = false;

  constructor(name: string, args: readonly Arg[], sink: ReplySink, index: number) {
    // ioredis flattens the arguments it is given (Array.prototype.flat, most of a command's construction); ours are
    // flat already, so it gets none and they are set here, before the work initPromise would have done.
    super(name, NO_ARGS);
    const command = this as unknown as CommandInternals;
    command.args = args.slice();
    prepareArguments(command);
    this.sink = sink;
    this.index = index;
  }
}

const proto = ReplyCommand.prototype as unknown as CommandInternals & {
  initPromise(): void;
  resolve(reply: unknown): void;
  reject(error: unknown): void;
};

/** Called by ioredis's constructor: no promise. The arguments are prepared by ReplyCommand's constructor. */
proto.initPromise = () => {};

/** What ioredis's initPromise does besides making the promise: argument transformers, then argument stringifying. */
function prepareArguments(command: CommandInternals): void {
  command.transformed = true;
  const transformer = commandStatics._transformer.argument[command.name];
  if (transformer) command.args = transformer(command.args);
  command.stringifyArguments();
}

proto.resolve = function (this: Settling, reply: unknown) {
  if (this.settled) return;
  this.settled = true;
  this._clearTimers();
  let value: unknown;
  try {
    value = this.transformReply(reply);
  } catch (error) {
    this.sink.failed(this.index, error);
    return;
  }
  this.isResolved = true;
  this.sink.replied(this.index, value as Outcome);
};

proto.reject = function (this: Settling, error: unknown) {
  if (this.settled) return;
  this.settled = true;
  this._clearTimers();
  this.sink.failed(this.index, error);
};
