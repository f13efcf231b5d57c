// The V8 flags the broker is tuned for (broker/lifecycle/node-flags.ts): found in argv or NODE_OPTIONS, given to workers by
// their primary, and missed out loud by a single process started without them.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { missingNodeFlags, NODE_FLAGS } from '../broker/lifecycle/node-flags.js';
import { spawnBrokerProcess, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

t.test('missingNodeFlags: a flag counts as given with any value, in argv or NODE_OPTIONS', async (t) => {
  t.same(missingNodeFlags([], ''), NODE_FLAGS);
  t.same(missingNodeFlags(['--max-semi-space-size=64'], ''), []);
  t.same(missingNodeFlags(['--max-semi-space-size=32'], ''), [], 'the operator may choose another size');
  t.same(missingNodeFlags(['--max_semi_space_size=128'], ''), [], 'V8 spells it with underscores too');
  t.same(missingNodeFlags([], '--enable-source-maps --max-semi-space-size=64'), []);
  t.same(missingNodeFlags(['--max-old-space-size=512'], '--trace-gc'), NODE_FLAGS, 'other flags are not it');
});

const redis = await startRedis();
t.teardown(() => redis.stop());
const args = ['--port', '0', '--admin-port', '0', '--redis-url', redis.url, '--token', TOKEN];
/** NODE_OPTIONS without any of the flags, whatever the environment running the tests sets. */
const env = { NODE_OPTIONS: '' };

t.test('a single process without the flags warns at start, naming them', async (t) => {
  const broker = await spawnBrokerProcess([...args, '--log-level', 'warn'], { env });
  t.teardown(() => broker.stop());
  const warning = broker
    .stderr()
    .split('\n')
    .filter((line) => line.includes('node_flags_missing'))
    .map((line) => JSON.parse(line) as { missing: string[]; msg: string });
  t.equal(warning.length, 1, 'one warning');
  t.same(warning[0]?.missing, NODE_FLAGS);
  t.match(warning[0]?.msg, /--max-semi-space-size=64/);
});

t.test('a single process started with them says nothing', async (t) => {
  const broker = await spawnBrokerProcess([...args, '--log-level', 'warn'], { env, nodeFlags: NODE_FLAGS });
  t.teardown(() => broker.stop());
  t.notMatch(broker.stderr(), /node_flags_missing/);
});

t.test('workers get the flags from a primary started without them', async (t) => {
  const broker = await spawnBrokerProcess([...args, '--workers', '2', '--log-level', 'warn'], { env });
  t.teardown(() => broker.stop());
  const children = readFileSync(`/proc/${broker.child.pid}/task/${broker.child.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const workers = children.filter((pid) =>
    readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('broker/main.ts'),
  );
  t.equal(workers.length, 2, 'two workers');
  for (const pid of workers) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    t.same(missingNodeFlags(argv, ''), [], `worker ${pid} runs with ${NODE_FLAGS.join(' ')}`);
  }
  t.notMatch(broker.stderr(), /node_flags_missing/, 'the primary does not warn: its workers have them');
});
