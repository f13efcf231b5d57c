// PendingReplies and shared timeouts (broker/redis/settle.ts): one timer per group of requests written together, never
// answering a request before its own timeout, and letting go of a group once its members settled.
import t from 'tap';
import { SluiceError } from '../broker/errors.js';
import type { Outcome } from '../broker/redis/outcome.js';
import { PendingReplies, Timeouts } from '../broker/redis/settle.js';
import { NO_TELEMETRY } from '../broker/telemetry.js';
import { ManualClock } from './helpers/manual-clock.js';

const classify = (error: unknown) => ({ error: error as Error, outcome: 'redis_error' as const });

/** A one-command request written now with `timeoutMs`, sharing `timeouts`; records when and how it was answered. */
function request(clock: ManualClock, timeouts: Timeouts, timeoutMs: number) {
  const written = clock.now();
  const result: { outcomes?: Outcome[]; answeredAfterMs?: number; allSettled: boolean } = {
    allSettled: false,
  };
  const pending = new PendingReplies(
    {
      count: 1,
      labels: ['get'],
      written,
      timeoutMs,
      timeouts: timeouts.groupFor(timeoutMs, written),
      telemetry: NO_TELEMETRY,
      classify,
    },
    (outcomes) => {
      result.outcomes = outcomes;
      result.answeredAfterMs = clock.now() - written;
    },
    () => {
      result.allSettled = true;
    },
  );
  pending.armTimeout();
  return { pending, result };
}

t.test('requests written together share one timer, and none is answered before its timeout', async (t) => {
  const clock = new ManualClock();
  const timeouts = new Timeouts(clock);
  const a = request(clock, timeouts, 50);
  const b = request(clock, timeouts, 50);
  t.equal(timeouts.groupFor(50, clock.now()), timeouts.groupFor(50, clock.now()), 'one group');
  t.equal(clock.pending, 1, 'one timer for both');
  a.pending.replied(0, 'x');
  t.same(a.result.outcomes, ['x'], 'a reply answers at once');
  t.ok(a.result.allSettled);
  clock.advance(49.9);
  t.equal(b.result.outcomes, undefined, 'not answered before its timeout');
  clock.advance(30);
  const late = b.result.outcomes?.[0];
  t.ok(late instanceof SluiceError && late.code === 'SLUICE_ERR_REDIS_TIMEOUT', 'the late one times out');
  t.ok((b.result.answeredAfterMs ?? 0) >= 50, `not early (${b.result.answeredAfterMs?.toFixed(1)} ms)`);
  t.notOk(b.result.allSettled, 'its slot stays held until Redis answers');
  b.pending.replied(0, 'y');
  t.ok(b.result.allSettled, 'then it is freed');
  t.same(b.result.outcomes?.[0], late, 'and the caller was answered only once');
});

t.test('another timeout, or a group whose members all settled, gets a new timer', async (t) => {
  const clock = new ManualClock();
  const timeouts = new Timeouts(clock);
  const now = clock.now();
  const first = timeouts.groupFor(50, now);
  t.not(timeouts.groupFor(60, now), first, 'a different timeout');
  const timeoutsB = new Timeouts(clock);
  const done = request(clock, timeoutsB, 1000);
  done.pending.replied(0, 'x');
  t.equal(clock.pending, 0, 'a group whose members all settled clears its timer');
  const next = request(clock, timeoutsB, 30);
  const again = request(clock, timeoutsB, 30);
  clock.advance(60);
  t.ok(next.result.outcomes?.[0] instanceof SluiceError, 'a new group times out on its own timer');
  t.ok(again.result.outcomes?.[0] instanceof SluiceError);
});

t.test('a group made more than a millisecond ago takes no new members', async (t) => {
  const clock = new ManualClock();
  const timeouts = new Timeouts(clock);
  const old = request(clock, timeouts, 1000);
  const group = timeouts.groupFor(1000, clock.now());
  clock.advance(0.5);
  t.equal(timeouts.groupFor(1000, clock.now()), group, 'within the millisecond: the same group');
  clock.advance(4.5);
  t.not(timeouts.groupFor(1000, clock.now()), group, 'a fresh group');
  old.pending.replied(0, 'x');
});
