// The JSON of errors and of per-command result lists, shared by REST and WebSocket replies. Pure.
import { isSluiceError } from '../errors.js';
import type { Outcome } from '../redis/outcome.js';
import { replyJson } from './reply.js';

/** `{"error":…,"code":…}`: Upstash's error shape plus the catalogue code (SLUICE_ERR_REDIS for Redis's own errors). */
export function errorBody(error: Error): string {
  const code = isSluiceError(error) ? error.code : 'SLUICE_ERR_REDIS';
  return `{"error":${JSON.stringify(error.message)},"code":"${code}"}`;
}

/** `[{"result":…},{"error":…,"code":…},…]`: one item per command, in order (pipelines and transactions). */
export function itemsJson(outcomes: readonly Outcome[], base64: boolean): string {
  let out = '[';
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i]!;
    if (i > 0) out += ',';
    out += outcome instanceof Error ? errorBody(outcome) : `{"result":${replyJson(outcome, base64)}}`;
  }
  return `${out}]`;
}
