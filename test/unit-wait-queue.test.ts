// WaitQueue, the queue class admission gives p-queue: FIFO order, O(1) removal by id, the oldest wait.
import PQueue from 'p-queue';
import t from 'tap';
import { type WaitOptions, WaitQueue } from '../broker/exec/wait-queue.js';

const run = (name: string) => Object.assign(async () => name, { taskName: name });
const names = (q: WaitQueue) => q.filter({}).map((r) => (r as { taskName?: string }).taskName);
const signal = new AbortController().signal;

t.test('FIFO; removal from the head, the middle and the tail keeps the order of the others', async (t) => {
  const q = new WaitQueue();
  for (const [i, name] of ['a', 'b', 'c', 'd', 'e'].entries())
    q.enqueue(run(name), { id: name, signal, since: i });
  t.equal(q.size, 5);
  t.equal(q.oldestSince, 0);
  q.remove('c');
  q.remove('a');
  q.remove('e');
  t.same(names(q), ['b', 'd']);
  t.equal(q.size, 2);
  t.equal(q.oldestSince, 1, 'the oldest is the new head');
  q.enqueue(run('f'), { id: 'f', signal, since: 5 });
  t.equal((q.dequeue() as unknown as { taskName: string }).taskName, 'b');
  q.remove('b');
  t.equal(q.size, 2, 'removing a task already dequeued does nothing');
  q.remove('nope');
  t.same(names(q), ['d', 'f']);
  q.remove('d');
  q.remove('f');
  t.equal(q.size, 0);
  t.equal(q.oldestSince, undefined);
  t.equal(q.dequeue(), undefined);
});

t.test('only tasks added with a signal are indexed for removal', async (t) => {
  const q = new WaitQueue();
  q.enqueue(run('x'), { id: 'x' });
  q.remove('x');
  t.equal(q.size, 1, 'p-queue removes only aborted (signalled) tasks');
  t.same(q.filter({ priority: 1 }), [], 'no task has another priority');
  t.throws(() => q.setPriority(), TypeError);
});

t.test('under p-queue: aborted waiters leave at once and the rest run in order', async (t) => {
  const queue = new PQueue<WaitQueue, WaitOptions>({ concurrency: 1, queueClass: WaitQueue });
  let release!: () => void;
  void queue.add(() => new Promise<void>((resolve) => (release = resolve)));
  const order: number[] = [];
  const controllers = Array.from({ length: 1000 }, () => new AbortController());
  const settled = controllers.map((c, i) =>
    queue.add(async () => void order.push(i), { signal: c.signal }).catch((e: unknown) => e),
  );
  t.equal(queue.size, 1000);
  for (const [i, c] of controllers.entries()) if (i % 10 !== 0) c.abort(new Error(`gone ${i}`));
  t.equal(queue.size, 100, 'the 900 aborted left the queue synchronously');
  release();
  const outcomes = await Promise.all(settled);
  t.same(
    order,
    Array.from({ length: 100 }, (_, i) => i * 10),
    'the others ran in arrival order',
  );
  t.equal(
    outcomes.filter((o) => o instanceof Error).length,
    900,
    'each aborted add rejected with its reason',
  );
  t.equal(queue.pending + queue.size, 0);
});
