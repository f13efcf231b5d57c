// The `"quota"` of a tokens-file entry: what it may hold and how it is checked. Enforcement is entrance/quotas.ts.

/** A quota as written in the tokens file (any subset). 0 means "no limit" for this token, whatever the default. */
export interface QuotaSpec {
  /** Requests per second (token bucket refill); each HTTP request or WebSocket request counts 1. */
  readonly requestsPerSecond?: number;
  /** Requests that may come at once before the rate applies (bucket size); default requestsPerSecond. */
  readonly burst?: number;
  /** Commands per second: a /pipeline, /multi-exec or WebSocket pipeline counts each of its commands. */
  readonly commandsPerSecond?: number;
  /** Requests received and not yet answered, over every connection of the token. */
  readonly inflight?: number;
  /** WebSockets and SSE streams open at once. */
  readonly sockets?: number;
}

/** The quota fields, in the order they are documented. */
export const QUOTA_FIELDS = [
  'requestsPerSecond',
  'burst',
  'commandsPerSecond',
  'inflight',
  'sockets',
] as const;

/** The largest value a quota field takes (beyond it, say 0: no limit). */
export const QUOTA_MAX = 1_000_000_000;

/**
 * Checks a `"quota"` value; pushes what is wrong with it to `problems` (prefixed with `where`) and returns the
 * spec when it is right.
 */
export function parseQuotaSpec(value: unknown, where: string, problems: string[]): QuotaSpec | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${where}: expected an object such as {"requestsPerSecond": 100, "inflight": 50}`);
    return undefined;
  }
  const before = problems.length;
  const spec: Record<string, number> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (!(QUOTA_FIELDS as readonly string[]).includes(key)) {
      problems.push(`${where}: unknown key ${JSON.stringify(key)} (expected ${QUOTA_FIELDS.join(', ')})`);
      continue;
    }
    if (typeof field !== 'number' || !Number.isInteger(field) || field < 0 || field > QUOTA_MAX) {
      problems.push(
        `${where}.${key}: expected a whole number from 0 (no limit) to ${QUOTA_MAX}, got ${JSON.stringify(field)}`,
      );
      continue;
    }
    spec[key] = field;
  }
  if (spec['burst'] !== undefined && spec['requestsPerSecond'] === undefined)
    problems.push(
      `${where}.burst: needs requestsPerSecond in the same quota (burst is the size of its bucket)`,
    );
  if (spec['burst'] === 0 && spec['requestsPerSecond'] !== 0)
    problems.push(`${where}.burst: expected 1 or more (leave it out for one second of requestsPerSecond)`);
  return problems.length === before ? (spec as QuotaSpec) : undefined;
}

/** Whether two quotas say the same. */
export function sameQuota(a: QuotaSpec | undefined, b: QuotaSpec | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return QUOTA_FIELDS.every((field) => a[field] === b[field]);
}
