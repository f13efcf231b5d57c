// The start-up check of the ioredis internals the hot path relies on: the installed ioredis passes it, and a
// missing or changed internal is named before any request could go unanswered.
import t from 'tap';
import { Command } from 'ioredis';
import {
  assertIoredisCompatible,
  IOREDIS_CHECKED_VERSION,
  ioredisProblems,
} from '../broker/redis/ioredis-check.js';
import { startRefusal } from './helpers/broker.js';

const proto = Command.prototype as unknown as Record<string, unknown>;

/** Runs `body` with `Command.prototype[name]` replaced by `value`, then puts it back. */
function withPrototype<T>(name: string, value: unknown, body: () => T): T {
  const had = Object.getOwnPropertyDescriptor(proto, name);
  Object.defineProperty(proto, name, { value, configurable: true, writable: true });
  try {
    return body();
  } finally {
    if (had) Object.defineProperty(proto, name, had);
    else delete proto[name];
  }
}

t.test('the installed ioredis has everything the hot path uses', async (t) => {
  t.same(ioredisProblems(), []);
  t.doesNotThrow(() => assertIoredisCompatible());
});

t.test('a missing Command method is named', async (t) => {
  const problems = withPrototype('_clearTimers', undefined, () => ioredisProblems());
  t.same(problems, ['Command.prototype._clearTimers is not a function']);
  t.same(ioredisProblems(), [], 'put back');
});

t.test('a command that does not settle through its sink is caught', async (t) => {
  // as if a release set resolve on each instance, shadowing ReplyCommand's prototype method
  const problems = withPrototype(
    'stringifyArguments',
    function (this: Record<string, unknown>) {
      this['resolve'] = () => {};
    },
    () => ioredisProblems(),
  );
  t.same(problems, [
    'Command sets resolve/reject on each instance (ReplyCommand cannot settle it)',
    'a command settled as [failed 3]',
  ]);
});

t.test('arguments kept anywhere but "args" are caught', async (t) => {
  const problems = withPrototype(
    'stringifyArguments',
    function (this: Record<string, unknown>) {
      this['args'] = ['get', 'k'];
    },
    () => ioredisProblems(),
  );
  t.same(problems, ['a command\'s arguments are not kept in "args" (got ["get","k"])']);
});

t.test('startBroker refuses to start, naming the problem and the versions', async (t) => {
  const error = await withPrototype('stringifyArguments', 42, startRefusal);
  t.ok(error, 'rejected');
  t.match(error?.message, /^ioredis \d+\.\d+\.\d+ does not work the way Sluice relies on/);
  t.match(error?.message, `checked against ${IOREDIS_CHECKED_VERSION}`);
  t.match(error?.message, 'Command.prototype.stringifyArguments is not a function');
  t.match(error?.message, 'npm ci');
});
