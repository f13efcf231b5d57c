// Admission (broker/exec/admission.ts) on a manual clock: the queue timeout, the request deadline, the oldest wait
// and the waited time, each at the exact millisecond (the real-process limits are in pool-admission-queue.test.ts).
import t, { type Test } from 'tap';
import { Admission } from '../broker/exec/admission.js';
import type { SluiceError } from '../broker/errors.js';
import { ManualClock } from './helpers/manual-clock.js';

const QUEUE_TIMEOUT_MS = 2000;

/** An admission of one slot on `clock`, and a request that takes the slot and holds it until `leave` is called. */
function oneSlot(clock: ManualClock) {
  const admission = new Admission({ maxInflight: 1, queueMax: 10, queueTimeoutMs: QUEUE_TIMEOUT_MS, clock });
  let leave: (() => void) | undefined;
  admission.enter({ deadline: Number.POSITIVE_INFINITY }, (l) => (leave = l), t.fail);
  return { admission, leave: () => leave?.() };
}

/** Enters a request that has to wait; records whether it started, was refused (with which code) and its wait. */
function waiter(admission: Admission, deadline = Number.POSITIVE_INFINITY) {
  const result: { started: boolean; refused?: string; waitedSeconds?: number } = { started: false };
  admission.enter(
    { deadline },
    (leave) => {
      result.started = true;
      leave();
    },
    (error: SluiceError) => (result.refused = error.code),
    (seconds) => (result.waitedSeconds = seconds),
  );
  return result;
}

/** Lets p-queue's promise callbacks (an abort's rejection, a freed slot's next task) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('a waiter is refused with SLUICE_ERR_QUEUE_TIMEOUT exactly at SLUICE_QUEUE_TIMEOUT_MS', async (t) => {
  const clock = new ManualClock();
  const { admission, leave } = oneSlot(clock);
  const waiting = waiter(admission);
  t.equal(admission.waiting, 1);
  clock.advance(500);
  t.equal(admission.oldestWaitSeconds(), 0.5, 'the oldest wait is read on the clock');
  clock.advance(QUEUE_TIMEOUT_MS - 500 - 1);
  await settle();
  t.equal(waiting.refused, undefined, 'still waiting 1 ms before the timeout');
  clock.advance(1);
  await settle();
  t.equal(waiting.refused, 'SLUICE_ERR_QUEUE_TIMEOUT');
  t.equal(admission.waiting, 0, 'and it left the queue');
  t.notOk(waiting.started);
  leave();
});

t.test('a deadline sooner than the queue timeout refuses with SLUICE_ERR_DEADLINE_EXPIRED', async (t) => {
  const clock = new ManualClock();
  const { admission, leave } = oneSlot(clock);
  const waiting = waiter(admission, clock.now() + 300);
  clock.advance(299);
  await settle();
  t.equal(waiting.refused, undefined, 'still waiting before the deadline');
  clock.advance(1);
  await settle();
  t.equal(waiting.refused, 'SLUICE_ERR_DEADLINE_EXPIRED');
  leave();
});

t.test('a waiter admitted when a slot frees reports its wait and arms no refusal', async (t) => {
  const clock = new ManualClock();
  const { admission, leave } = oneSlot(clock);
  const waiting = waiter(admission);
  clock.advance(750);
  leave();
  await settle();
  t.ok(waiting.started, 'started once the slot was freed');
  t.equal(waiting.waitedSeconds, 0.75, 'waited 750 ms on the clock');
  t.equal(clock.pending, 0, 'its queue timeout was cleared');
  clock.advance(QUEUE_TIMEOUT_MS * 2);
  await settle();
  t.equal(waiting.refused, undefined, 'and never fires');
  t.equal(admission.oldestWaitSeconds(), 0, 'nothing waits');
});

/** Enters a request admitted at once; returns its `leave`, or fails the test if it had to wait. */
function atOnce(t: Test, admission: Admission): () => void {
  let leave: (() => void) | undefined;
  admission.enter({ deadline: Number.POSITIVE_INFINITY }, (l) => (leave = l), t.fail);
  if (leave === undefined) throw new Error('expected the request to start at once');
  return leave;
}

t.test(
  'requests admitted in one turn share a task, and SLUICE_MAX_INFLIGHT still counts requests',
  async (t) => {
    const admission = new Admission({ maxInflight: 3, queueMax: 10, queueTimeoutMs: QUEUE_TIMEOUT_MS });
    const leaves = [atOnce(t, admission), atOnce(t, admission), atOnce(t, admission)];
    t.equal(admission.running, 3, 'three requests run in one turn');
    const fourth = waiter(admission);
    t.equal(admission.waiting, 1, 'the fourth waits: the turn holds three of the three slots');
    leaves[0]?.();
    leaves[0]?.();
    t.ok(fourth.started, 'one leaving (twice: counted once) lets the waiter start before the turn ends');
    await settle();
    t.equal(admission.running, 2, 'the turn ended; two of its members still run');
    const held = atOnce(t, admission);
    const fifth = waiter(admission);
    t.notOk(fifth.started, 'three run again: the next waits');
    leaves[1]?.();
    t.ok(fifth.started, 'a member of an ended turn frees its slot');
    leaves[2]?.();
    held();
    await settle();
    t.equal(admission.running, 0, 'nothing runs once the last member left');
    t.equal(admission.waiting, 0);
  },
);

t.test('after waiters drained, a new turn still starts at once', async (t) => {
  const admission = new Admission({ maxInflight: 2, queueMax: 10, queueTimeoutMs: QUEUE_TIMEOUT_MS });
  const first = [atOnce(t, admission), atOnce(t, admission)];
  let leaveWaiter: (() => void) | undefined;
  admission.enter({ deadline: Number.POSITIVE_INFINITY }, (l) => (leaveWaiter = l), t.fail);
  for (const leave of first) leave();
  t.ok(leaveWaiter, 'the waiter started');
  await settle();
  const next = [atOnce(t, admission)];
  t.equal(admission.running, 2, 'the waiter and a request of the new turn');
  leaveWaiter?.();
  for (const leave of next) leave();
  await settle();
  const again = [atOnce(t, admission), atOnce(t, admission)];
  t.equal(admission.running, 2);
  for (const leave of again) leave();
  await admission.onIdle();
  t.equal(admission.running, 0);
});
