// Admission at SLUICE_QUEUE_MAX with real waiting requests (Redis SIGSTOPped): refusal, then cancelled and expired
// waiters leave the queue at once and their places are taken again.
import t from 'tap';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { call, codeOf, rawConnect, type RawClient } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';

const MAX_INFLIGHT = 4;
const QUEUE_MAX = 400;
const CANCELLED = 300;
/** Sluice-Deadline-Ms of the waiters that expire: long enough to see the queue full again on a loaded machine. */
const DEADLINE_MS = 4000;

const redis = await startRedis();
t.teardown(() => redis.stop());
// SIGCONT before stopping Redis, whatever a failed assertion left behind.
t.teardown(() => redis.resume());

/** Sends `POST /` with `["set", key, "1"]` on a socket of its own (the fast path), optionally with a deadline. */
async function waiter(url: string, key: string, deadlineMs?: number): Promise<RawClient> {
  const client = await rawConnect(url);
  const body = JSON.stringify(['set', key, '1']);
  client.socket.write(
    `POST / HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
      (deadlineMs === undefined ? '' : `Sluice-Deadline-Ms: ${deadlineMs}\r\n`) +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return client;
}

/** The status and error code of the first response a raw client received, once it came. */
async function answerOf(client: RawClient, ms = 5000): Promise<{ status: number; code: string | undefined }> {
  await waitFor(() => /\r\n\r\n[\s\S]*\}/.test(client.received()), ms);
  const text = client.received();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, code: /"code":"([A-Z_]+)"/.exec(text)?.[1] };
}

/** sluice_queue_length as /metrics reports it. */
async function queueLength(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(/^sluice_queue_length (\d+)/m.exec(text)?.[1]);
}

t.test(
  'a full queue refuses; cancelled and deadline-expired waiters free their places at once',
  async (t) => {
    const broker = await startTestBroker(redis.url, {
      flags: {
        'max-inflight': MAX_INFLIGHT,
        'queue-max': QUEUE_MAX,
        'queue-timeout-ms': 60_000,
        'command-timeout-ms': 60_000,
      },
    });
    t.teardown(() => broker.close());
    const { admission } = broker;
    const clients: RawClient[] = [];
    t.teardown(() => {
      for (const c of clients) c.socket.destroy();
    });

    redis.pause();
    // The running slots first, so that the waiters are known: their SETs are written and stay unanswered.
    for (let i = 0; i < MAX_INFLIGHT; i++) clients.push(await waiter(broker.url, `adm:run:${i}`));
    t.ok(await waitFor(() => admission.running === MAX_INFLIGHT), 'every slot is taken');
    const waiting: RawClient[] = [];
    for (let i = 0; i < QUEUE_MAX; i++) waiting.push(await waiter(broker.url, `adm:wait:${i}`));
    clients.push(...waiting);
    t.ok(await waitFor(() => admission.waiting === QUEUE_MAX), `${QUEUE_MAX} requests wait`);
    t.equal(await queueLength(broker.adminUrl), QUEUE_MAX, 'sluice_queue_length says so');

    const refused = await call(broker.url, '/', ['set', 'adm:refused', '1'], { hangMs: 5000 });
    t.same(
      [refused.status, codeOf(refused), refused.headers['retry-after'] !== undefined],
      [503, 'SLUICE_ERR_QUEUE_FULL', true],
      'one more is refused at once with 503 QUEUE_FULL and Retry-After, Redis still stopped',
    );

    // The callers of most waiters go away: their requests leave the queue now, not at the queue timeout.
    const cancelledAt = performance.now();
    for (const client of waiting.slice(0, CANCELLED)) client.socket.destroy();
    t.ok(
      await waitFor(() => admission.waiting === QUEUE_MAX - CANCELLED),
      `the ${CANCELLED} cancelled waiters left the queue`,
    );
    t.comment(`${CANCELLED} cancelled waiters left in ${(performance.now() - cancelledAt).toFixed(0)} ms`);
    t.equal(admission.running, MAX_INFLIGHT, 'the running requests keep their slots');

    // Their places are free again: new waiters with a short deadline take them, and the queue is full once more.
    const expiring = await Promise.all(
      Array.from({ length: CANCELLED }, (_, i) => waiter(broker.url, `adm:expire:${i}`, DEADLINE_MS)),
    );
    clients.push(...expiring);
    t.ok(await waitFor(() => admission.waiting === QUEUE_MAX), 'the freed places are taken by new waiters');
    const again = await call(broker.url, '/', ['set', 'adm:refused', '1'], { hangMs: 5000 });
    t.equal(codeOf(again), 'SLUICE_ERR_QUEUE_FULL', 'and the queue is full again');

    // Their deadline passes while Redis is still stopped: each is answered 504 and leaves the queue.
    const expired = await Promise.all(expiring.map((c) => answerOf(c, 10_000)));
    t.ok(
      expired.every((a) => a.status === 504 && a.code === 'SLUICE_ERR_DEADLINE_EXPIRED'),
      'waiters past their deadline get 504 DEADLINE_EXPIRED while Redis is still stopped',
    );
    t.ok(await waitFor(() => admission.waiting === QUEUE_MAX - CANCELLED), 'and left the queue');

    redis.resume();
    const kept = waiting.slice(CANCELLED);
    const answers = await Promise.all([...clients.slice(0, MAX_INFLIGHT), ...kept].map((c) => answerOf(c)));
    t.ok(
      answers.every((a) => a.status === 200),
      'the running and the remaining waiters complete once Redis resumes',
    );
    t.ok(await waitFor(() => admission.running === 0 && admission.waiting === 0), 'every slot is free again');
    const store = redis.client();
    t.equal(
      await store.exists(...kept.map((_, i) => `adm:wait:${CANCELLED + i}`)),
      QUEUE_MAX - CANCELLED,
      'every waiter that stayed ran',
    );
    t.equal(
      await store.exists(
        ...Array.from({ length: CANCELLED }, (_, i) => `adm:wait:${i}`),
        ...Array.from({ length: CANCELLED }, (_, i) => `adm:expire:${i}`),
        'adm:refused',
      ),
      0,
      'no cancelled, expired or refused request reached Redis',
    );
  },
);

t.test('waiters past SLUICE_QUEUE_TIMEOUT_MS get 503 QUEUE_TIMEOUT and free the whole queue', async (t) => {
  const timeoutMs = 1000;
  const broker = await startTestBroker(redis.url, {
    flags: {
      'max-inflight': MAX_INFLIGHT,
      'queue-max': QUEUE_MAX,
      'queue-timeout-ms': timeoutMs,
      'command-timeout-ms': 60_000,
    },
  });
  t.teardown(() => broker.close());
  const { admission } = broker;
  const clients: RawClient[] = [];
  t.teardown(() => {
    for (const c of clients) c.socket.destroy();
  });

  redis.pause();
  for (let i = 0; i < MAX_INFLIGHT; i++) clients.push(await waiter(broker.url, `qt:run:${i}`));
  t.ok(await waitFor(() => admission.running === MAX_INFLIGHT), 'every slot is taken');
  for (let round = 0; round < 2; round++) {
    const started = performance.now();
    const waiting = await Promise.all(
      Array.from({ length: QUEUE_MAX }, (_, i) => waiter(broker.url, `qt:wait:${round}:${i}`)),
    );
    clients.push(...waiting);
    const answers = await Promise.all(waiting.map((c) => answerOf(c, 10_000)));
    t.ok(
      answers.every((a) => a.status === 503 && a.code === 'SLUICE_ERR_QUEUE_TIMEOUT'),
      `round ${round}: every waiter got 503 QUEUE_TIMEOUT`,
    );
    t.ok(performance.now() - started >= timeoutMs - 50, 'after the queue timeout');
    t.ok(
      waiting.every((c) => /\r\nretry-after: *\d+/i.test(c.received())),
      'with Retry-After',
    );
    t.ok(await waitFor(() => admission.waiting === 0), `round ${round}: the queue is empty again`);
  }
  await sleep(10);
  t.equal(admission.running, MAX_INFLIGHT, 'the running requests kept their slots throughout');
  redis.resume();
  t.ok(await waitFor(() => admission.running === 0), 'and free them once Redis answers');
});
