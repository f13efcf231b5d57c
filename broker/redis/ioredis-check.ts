// A start-up check that the installed ioredis still has the internals the main pool's hot path relies on.
import { createRequire } from 'node:module';
import { Command, Redis } from 'ioredis';
import type { Outcome } from './outcome.js';
import { ReplyCommand } from './reply-command.js';

/** The ioredis release these internals were read from (package-lock.json installs it). */
export const IOREDIS_CHECKED_VERSION = '5.9.3';

/** The Command methods ReplyCommand and the Batcher call or replace. */
const COMMAND_METHODS = [
  'initPromise',
  'stringifyArguments',
  'transformReply',
  '_clearTimers',
  'toWritable',
] as const;

function installedVersion(): string {
  try {
    return (createRequire(import.meta.url)('ioredis/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * What is missing or behaves differently in the installed ioredis, one line each; empty when nothing is. ReplyCommand
 * replaces how a command settles and the Batcher queues commands for their replies itself (see there): an ioredis
 * release that renamed one of these would otherwise leave requests unanswered instead of failing at start-up.
 */
export function ioredisProblems(): string[] {
  const problems: string[] = [];
  const statics = Command as unknown as {
    checkFlag?: unknown;
    _transformer?: { argument?: unknown };
  };
  if (typeof statics.checkFlag !== 'function') problems.push('Command.checkFlag is not a function');
  if (typeof statics._transformer?.argument !== 'object')
    problems.push('Command._transformer.argument is not an object');
  const proto = Command.prototype as unknown as Record<string, unknown>;
  for (const name of COMMAND_METHODS) {
    if (typeof proto[name] !== 'function') problems.push(`Command.prototype.${name} is not a function`);
  }
  if (problems.length > 0) return problems;

  // A command settles through ReplyCommand's resolve and reject, once, into its sink.
  const seen: string[] = [];
  const sink = {
    replied: (index: number, reply: Outcome) => seen.push(`replied ${index} ${String(reply)}`),
    failed: (index: number) => seen.push(`failed ${index}`),
  };
  const command = new ReplyCommand('get', ['k'], sink, 3);
  if (Object.hasOwn(command, 'resolve') || Object.hasOwn(command, 'reject'))
    problems.push('Command sets resolve/reject on each instance (ReplyCommand cannot settle it)');
  const args = (command as unknown as { args: unknown }).args;
  if (!Array.isArray(args) || args.length !== 1 || args[0] !== 'k')
    problems.push(`a command's arguments are not kept in "args" (got ${JSON.stringify(args)})`);
  command.resolve('v');
  command.reject(new Error('late'));
  if (seen.join() !== 'replied 3 v') problems.push(`a command settled as [${seen.join('; ')}]`);

  // The Batcher queues each written command on the connection's commandQueue, as sendCommand would.
  const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
  const queue = (redis as unknown as { commandQueue?: { push?: unknown; length?: unknown } }).commandQueue;
  if (typeof queue?.push !== 'function' || typeof queue.length !== 'number')
    problems.push('Redis#commandQueue is not a queue with push and length');
  redis.disconnect();
  return problems;
}

/** Throws, naming every problem and the ioredis versions, when the installed ioredis is not one Sluice can drive. */
export function assertIoredisCompatible(): void {
  const problems = ioredisProblems();
  if (problems.length === 0) return;
  throw new Error(
    `ioredis ${installedVersion()} does not work the way Sluice relies on (checked against ${IOREDIS_CHECKED_VERSION}): ${problems.join('; ')}. Install the version package-lock.json names (npm ci).`,
  );
}
