// Micro-benchmark of the per-request quota check (entrance/quotas.ts): what Quotas.enter + leave cost on the fast
// path with the default settings, with every limit set (and not hit), and for a refusal. Run after a build:
// `npm run build && node dist/bench/quota-check.js`. CPU time per call, best of 5 runs of 2,000,000 calls each.
import { Quotas, type QuotaLimits } from '../broker/entrance/quotas.js';
import type { Principal } from '../broker/protocol/auth.js';
import type { QuotaSpec } from '../broker/protocol/quota-spec.js';

const CALLS = 2_000_000;
const RUNS = 5;
const DEFAULTS: QuotaLimits = {
  requestsPerSecond: 0,
  burst: 0,
  commandsPerSecond: 0,
  inflight: 16384,
  sockets: 16384,
};
const caller: Principal = {
  name: 'bench',
  right: 'admin',
  allow: undefined,
  deny: undefined,
  tenant: '',
  quotaKey: 'token:bench',
};

function quotasWith(spec: QuotaSpec | undefined, defaults = DEFAULTS): Quotas {
  return new Quotas({ quotas: new Map([[caller.quotaKey, spec]]), defaults });
}

/** Best-of-RUNS nanoseconds of CPU per call of `body`. */
function measure(body: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < RUNS; run++) {
    const start = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) body();
    const used = process.cpuUsage(start);
    best = Math.min(best, ((used.user + used.system) * 1000) / CALLS);
  }
  return best;
}

const cases: [string, () => void][] = [];
const none = quotasWith(undefined, { ...DEFAULTS, inflight: 0, sockets: 0 });
cases.push([
  'no limit at all (every SLUICE_TOKEN_* 0)',
  () => {
    const entered = none.enter(caller, 1);
    if (!(entered instanceof Error)) entered.leave();
  },
]);
const defaults = quotasWith(undefined);
cases.push([
  'defaults (in flight and sockets bounded)',
  () => {
    const entered = defaults.enter(caller, 1);
    if (!(entered instanceof Error)) entered.leave();
  },
]);
const all = quotasWith({
  requestsPerSecond: 1e9,
  burst: 1e9,
  commandsPerSecond: 1e9,
  inflight: 1e9,
  sockets: 1e9,
});
cases.push([
  'every limit set, none hit (two buckets refilled from the clock)',
  () => {
    const entered = all.enter(caller, 1);
    if (!(entered instanceof Error)) entered.leave();
  },
]);
const refusing = quotasWith({ requestsPerSecond: 1, burst: 1 });
refusing.enter(caller, 1);
cases.push([
  'a refusal (requests/s exhausted; builds the SluiceError)',
  () => void refusing.enter(caller, 1),
]);

for (const [name, body] of cases) process.stdout.write(`${measure(body).toFixed(1)} ns  ${name}\n`);
