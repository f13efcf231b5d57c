// Quotas as pure logic on a ManualClock: token buckets refilled from the clock, burst, Retry-After, commands counted
// per command (a pipeline larger than the bucket), in-flight and socket counts, the exact split over workers, a
// reload's changed quota, and the tokens-file `quota` checks.
import t from 'tap';
import { type Principal, parseTokensFile } from '../broker/protocol/auth.js';
import { type QuotaLimits, Quotas, shareOf } from '../broker/entrance/quotas.js';
import type { QuotaSpec } from '../broker/protocol/quota-spec.js';
import { SluiceError } from '../broker/errors.js';
import { ManualClock } from './helpers/manual-clock.js';

const NONE: QuotaLimits = { requestsPerSecond: 0, burst: 0, commandsPerSecond: 0, inflight: 0, sockets: 0 };

function principal(quotaKey: string, tenant = ''): Principal {
  return { name: quotaKey, right: 'admin', allow: undefined, deny: undefined, tenant, quotaKey };
}

function setup(
  spec: QuotaSpec | undefined,
  defaults: QuotaLimits = NONE,
  share?: { index: number; count: number },
) {
  const clock = new ManualClock();
  const refused: string[] = [];
  const quotas = new Quotas({
    quotas: new Map([['k', spec]]),
    defaults,
    share,
    clock,
    refused: (kind, p) => refused.push(`${kind}:${p.tenant}`),
  });
  return { clock, quotas, refused, caller: principal('k') };
}

/** Enters one request and answers it at once; the error's code, or 'ok'. */
function one(quotas: Quotas, caller: Principal, commands = 1): string {
  const entered = quotas.enter(caller, commands);
  if (entered instanceof SluiceError) return entered.code;
  entered.leave();
  return 'ok';
}

t.test('requests per second: a burst, then the rate, refilled from the clock', async (t) => {
  const { clock, quotas, refused, caller } = setup({ requestsPerSecond: 2, burst: 5 });
  const first = Array.from({ length: 6 }, () => one(quotas, caller));
  t.same(first, ['ok', 'ok', 'ok', 'ok', 'ok', 'SLUICE_ERR_QUOTA_REQUESTS'], 'the burst of 5 goes through');
  const refusal = quotas.enter(caller, 1) as SluiceError;
  t.equal(refusal.status, 429);
  t.equal(refusal.retryAfterSeconds, 1, 'one token comes in 0.5 s: Retry-After rounds up to 1');
  t.match(refusal.message, /2 requests per second \(burst 5; quota\.requestsPerSecond in the tokens file\)/);
  clock.advance(499);
  t.equal(one(quotas, caller), 'SLUICE_ERR_QUOTA_REQUESTS', 'not before half a second');
  clock.advance(1);
  t.equal(one(quotas, caller), 'ok', 'a token after 500 ms at 2/s');
  t.equal(one(quotas, caller), 'SLUICE_ERR_QUOTA_REQUESTS');
  clock.advance(60_000);
  t.equal(
    Array.from({ length: 6 }, () => one(quotas, caller)).filter((r) => r === 'ok').length,
    5,
    'a long pause refills the bucket to the burst, no more',
  );
  t.equal(refused.filter((r) => r === 'requests:').length, 5, 'every refusal was reported');
});

t.test('the burst defaults to one second of the rate', async (t) => {
  const { quotas, caller } = setup({ requestsPerSecond: 3 });
  t.same(
    Array.from({ length: 4 }, () => one(quotas, caller)),
    ['ok', 'ok', 'ok', 'SLUICE_ERR_QUOTA_REQUESTS'],
  );
});

t.test('commands per second count every command; Retry-After covers a debt', async (t) => {
  const { clock, quotas, caller } = setup({ commandsPerSecond: 10 });
  t.equal(one(quotas, caller, 10), 'ok', 'a pipeline of 10 fills the second');
  const over = quotas.enter(caller, 1) as SluiceError;
  t.equal(over.code, 'SLUICE_ERR_QUOTA_COMMANDS');
  t.equal(over.retryAfterSeconds, 1);
  t.match(over.message, /10 commands per second \(quota\.commandsPerSecond in the tokens file\)/);
  clock.advance(1000);
  t.equal(one(quotas, caller, 30), 'ok', 'a pipeline larger than the bucket goes in on a full bucket');
  const debt = quotas.enter(caller, 1) as SluiceError;
  t.equal(debt.retryAfterSeconds, 3, 'and the next command waits for its debt: (20 + 1) / 10 s, rounded up');
  clock.advance(2000);
  t.equal(one(quotas, caller, 1), 'SLUICE_ERR_QUOTA_COMMANDS', 'after 2 s the bucket is at 0');
  clock.advance(100);
  t.equal(one(quotas, caller, 1), 'ok', 'after 2.1 s there is one');
  t.equal(one(quotas, caller, 0), 'ok', 'a request whose commands are not known yet is not counted here');
  const account = quotas.account(caller);
  clock.advance(1000);
  t.equal(quotas.commands(caller, account, 11), undefined, 'a parsed pipeline of 11 on a full bucket');
  t.equal(quotas.commands(caller, account, 1)?.code, 'SLUICE_ERR_QUOTA_COMMANDS');
});

t.test('a refusal over commands leaves the request bucket as it was', async (t) => {
  const { quotas, caller } = setup({ requestsPerSecond: 2, commandsPerSecond: 1 });
  t.equal(one(quotas, caller, 1), 'ok');
  t.equal(one(quotas, caller, 1), 'SLUICE_ERR_QUOTA_COMMANDS');
  t.equal(one(quotas, caller, 0), 'ok', 'the second request token was not spent by the refused request');
});

t.test('in flight: counted until answered; sockets until closed', async (t) => {
  const { quotas, caller } = setup({ inflight: 2, sockets: 1 });
  const a = quotas.enter(caller, 1);
  const b = quotas.enter(caller, 1);
  t.notOk(a instanceof SluiceError || b instanceof SluiceError);
  const c = quotas.enter(caller, 1) as SluiceError;
  t.equal(c.code, 'SLUICE_ERR_QUOTA_INFLIGHT');
  t.equal(c.retryAfterSeconds, 1);
  t.match(c.message, /is at its quota of 2 requests in flight \(quota\.inflight in the tokens file\)/);
  (a as Exclude<typeof a, SluiceError>).leave();
  t.equal(one(quotas, caller), 'ok', 'an answer frees a place');
  const socket = quotas.openSocket(caller);
  t.notOk(socket instanceof SluiceError);
  const second = quotas.openSocket(caller) as SluiceError;
  t.equal(second.code, 'SLUICE_ERR_QUOTA_SOCKETS');
  t.match(second.message, /is at its quota of 1 WebSockets and SSE streams open/);
  (socket as Exclude<typeof socket, SluiceError>).closeSocket();
  t.notOk(quotas.openSocket(caller) instanceof SluiceError, 'a closed socket frees a place');
});

t.test('defaults from the settings; the file overrides them, 0 meaning no limit', async (t) => {
  const defaults: QuotaLimits = { ...NONE, requestsPerSecond: 1, inflight: 1 };
  const { quotas, caller } = setup(undefined, defaults);
  t.equal(one(quotas, caller), 'ok');
  const refusal = quotas.enter(caller, 1) as SluiceError;
  t.match(refusal.message, /\(burst 1; SLUICE_TOKEN_REQUESTS_PER_SECOND\)/, 'names the setting');
  const free = setup({ requestsPerSecond: 0 }, defaults);
  t.same(
    Array.from({ length: 50 }, () => one(free.quotas, free.caller)).filter((r) => r !== 'ok'),
    [],
    'requestsPerSecond 0 in the file: no limit for this token',
  );
  const held = free.quotas.enter(free.caller, 0);
  t.match((free.quotas.enter(free.caller, 0) as SluiceError).message, /SLUICE_TOKEN_MAX_INFLIGHT/);
  t.notOk(held instanceof SluiceError);
});

t.test('a tenant: one account shared by its tokens; refusals name the tenant', async (t) => {
  const clock = new ManualClock();
  const refused: string[] = [];
  const quotas = new Quotas({
    quotas: new Map([['tenant:acme', { requestsPerSecond: 1, burst: 2 }]]),
    defaults: NONE,
    clock,
    refused: (kind, p) => refused.push(`${kind}:${p.tenant}`),
  });
  const a = principal('tenant:acme', 'acme');
  const b = { ...principal('tenant:acme', 'acme'), name: 'other' };
  t.equal(one(quotas, a), 'ok');
  t.equal(one(quotas, b), 'ok');
  const refusal = quotas.enter(a, 1) as SluiceError;
  t.match(refusal.message, /tenant acme is over its quota/);
  t.same(refused, ['requests:acme']);
  t.equal(quotas.size, 1);
});

t.test('over N workers each gets its exact part: the parts add up to the quota', async (t) => {
  for (const total of [1, 2, 3, 7, 10, 1000, 16384])
    for (const count of [1, 2, 3, 4, 64]) {
      let sum = 0;
      for (let index = 0; index < count; index++) sum += shareOf(total, { index, count });
      t.equal(sum, total, `${total} over ${count}`);
    }
  const clock = new ManualClock();
  const parts = [0, 1].map(
    (index) =>
      new Quotas({
        quotas: new Map([['k', { requestsPerSecond: 10, burst: 5, sockets: 3 }]]),
        defaults: NONE,
        share: { index, count: 2 },
        clock,
      }),
  );
  const caller = principal('k');
  const admitted = parts.map(
    (quotas) => Array.from({ length: 10 }, () => one(quotas, caller)).filter((r) => r === 'ok').length,
  );
  t.same(admitted, [3, 2], 'the burst of 5 is split 3 + 2');
  clock.advance(1000);
  const second = parts.map(
    (quotas) => Array.from({ length: 10 }, () => one(quotas, caller)).filter((r) => r === 'ok').length,
  );
  t.same(second, [3, 2], 'and the rate with it: 10/s over 5 burst = 6 + 4 per second, capped by the bucket');
  const sockets = parts.map(
    (quotas) =>
      Array.from({ length: 5 }, () => quotas.openSocket(caller)).filter((r) => !(r instanceof SluiceError))
        .length,
  );
  t.same(sockets, [2, 1], 'sockets 3 = 2 + 1');
  t.match(
    (parts[1]!.openSocket(caller) as SluiceError).message,
    /is at its quota of 3 WebSockets and SSE streams open \(quota\.sockets in the tokens file; this worker holds 1 of the sockets, split over 2 workers\)/,
  );
});

t.test(
  'a reload: a changed quota applies at once, counts carry over, removed keys are forgotten',
  async (t) => {
    const { quotas, caller } = setup({ inflight: 1, requestsPerSecond: 1 });
    const held = quotas.enter(caller, 0);
    t.notOk(held instanceof SluiceError);
    t.equal(one(quotas, caller), 'SLUICE_ERR_QUOTA_INFLIGHT');
    quotas.update(new Map([['k', { inflight: 1, requestsPerSecond: 1 }]]));
    t.equal(one(quotas, caller), 'SLUICE_ERR_QUOTA_INFLIGHT', 'the same quota: nothing reset');
    quotas.update(new Map([['k', { inflight: 2, requestsPerSecond: 1 }]]));
    t.equal(
      one(quotas, caller),
      'SLUICE_ERR_QUOTA_REQUESTS',
      'inflight raised at once; the bucket kept its state',
    );
    quotas.update(new Map([['k', { inflight: 2 }]]));
    t.equal(one(quotas, caller), 'ok', 'the rate limit removed at once');
    quotas.update(new Map([['other', undefined]]));
    t.equal(quotas.size, 0, 'a removed token leaves no account');
  },
);

t.test('the tokens file: quota checked field by field; a tenant has one quota', async (t) => {
  const parse = (tokens: unknown[]) => parseTokensFile(JSON.stringify({ tokens }));
  const entry = { token: 'token-0123456789', right: 'readwrite' };
  t.same(parse([{ ...entry, quota: { requestsPerSecond: 5, inflight: 2 } }]), {
    entries: [{ ...entry, name: 'token#0', quota: { requestsPerSecond: 5, inflight: 2 } }],
  });
  const bad = parse([
    { ...entry, quota: { requestsPerSecond: -1, burts: 3, inflight: 1.5, sockets: '2' } },
    { ...entry, token: 'token-abcdefghij', quota: [] },
    { ...entry, token: 'token-klmnopqrst', quota: { burst: 4 } },
  ]) as { problems: string[] };
  t.match(bad.problems, [
    /tokens\[0\]\.quota\.requestsPerSecond: expected a whole number from 0 \(no limit\) to 1000000000, got -1/,
    /tokens\[0\]\.quota: unknown key "burts" \(expected requestsPerSecond, burst, commandsPerSecond, inflight, sockets\)/,
    /tokens\[0\]\.quota\.inflight: expected a whole number .* got 1\.5/,
    /tokens\[0\]\.quota\.sockets: expected a whole number .* got "2"/,
    /tokens\[1\]\.quota: expected an object/,
    /tokens\[2\]\.quota\.burst: needs requestsPerSecond/,
  ]);
  t.equal(bad.problems.length, 6);
  const redisUrl = 'redis://127.0.0.1:6390/1';
  const tenant = parse([
    { ...entry, tenant: 'acme', redisUrl, quota: { requestsPerSecond: 5 } },
    { ...entry, token: 'token-abcdefghij', tenant: 'acme', redisUrl },
  ]) as { entries: { quota?: unknown }[] };
  t.same(
    tenant.entries.map((e) => e.quota),
    [{ requestsPerSecond: 5 }, { requestsPerSecond: 5 }],
    "the tenant's quota, given once, goes with each of its tokens",
  );
  const conflict = parse([
    { ...entry, tenant: 'acme', redisUrl, quota: { requestsPerSecond: 5 } },
    { ...entry, token: 'token-abcdefghij', tenant: 'acme', redisUrl, quota: { requestsPerSecond: 6 } },
  ]) as { problems: string[] };
  t.match(conflict.problems, [/tokens\[1\]\.quota differs from tokens\[0\]\.quota for tenant "acme"/]);
});
