// The ManualClock other tests drive time with (helpers/manual-clock.ts): timers fire in due order, at their due time,
// intervals repeat, cleared timers never fire, and the real clock keeps Node's semantics (unref'able timers).
import t from 'tap';
import { realClock } from '../broker/clock.js';
import { ManualClock } from './helpers/manual-clock.js';
import { sleep } from './helpers/time.js';

t.test('advance fires due timers in order of due time, then of arming, each at its due time', async (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
  clock.setTimeout(at('b'), 20);
  clock.setTimeout(at('a'), 10);
  clock.setTimeout(at('c'), 20);
  const every = clock.setInterval(at('i'), 15);
  clock.advance(9);
  t.same(fired, [], 'nothing before the first due time');
  clock.advance(21);
  t.same(fired, ['a@10', 'i@15', 'b@20', 'c@20', 'i@30'], 'in order, with now() at each due time');
  t.equal(clock.now(), 30);
  clock.clearInterval(every);
  clock.advance(100);
  t.equal(fired.length, 5, 'a cleared interval never fires again');
  t.equal(clock.pending, 0);
});

t.test(
  'a timer armed by a callback fires in the same advance when due; 0 ms means 1 ms, as in Node',
  async (t) => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 5), 5);
    const cleared = clock.setTimeout(() => fired.push(-1), 7);
    clock.clearTimeout(cleared);
    clock.setTimeout(() => fired.push(clock.now()), 0);
    clock.advance(10);
    t.same(fired, [1, 10]);
  },
);

t.test('the real clock is monotonic and its timers are Node timers', async (t) => {
  const before = realClock.now();
  await new Promise<void>((resolve) => realClock.setTimeout(resolve, 5));
  t.ok(realClock.now() - before >= 4, 'a timer of 5 ms takes about that long');
  let ran = false;
  const timer = realClock.setTimeout(() => {
    ran = true;
  }, 1);
  t.equal(timer.unref(), timer, 'unref returns the timer, as Node does');
  realClock.clearTimeout(timer);
  await sleep(10);
  t.notOk(ran, 'a cleared timer does not run');
});
