// The SSE stream of POST /subscribe and /psubscribe (docs/rest-api.md, pub/sub), parsed by hand; pure.

import type { WsPush } from './wire.js';

/** One event of a subscription stream: a message push, or a (p)(un)subscribe confirmation with its count. */
export type SseEvent =
  | WsPush
  | { type: 'subscribe' | 'psubscribe' | 'unsubscribe' | 'punsubscribe'; channel: string; count: number };

/**
 * Parses one SSE line. Only lines starting with exactly `data: ` carry events (comments such as `: keepalive`
 * and blank lines give `undefined`). Fields are split at the first two commas (three for `pmessage`), so the
 * payload may contain commas; it is raw text, never base64.
 */
export function parseSseLine(line: string): SseEvent | undefined {
  if (!line.startsWith('data: ')) return undefined;
  const body = line.slice(6);
  const a = body.indexOf(',');
  const b = body.indexOf(',', a + 1);
  if (a < 0 || b < 0) return undefined;
  const type = body.slice(0, a);
  const first = body.slice(a + 1, b);
  const rest = body.slice(b + 1);
  if (type === 'message') return { type, channel: first, data: rest };
  if (type === 'pmessage') {
    const c = rest.indexOf(',');
    return c < 0 ? undefined : { type, pattern: first, channel: rest.slice(0, c), data: rest.slice(c + 1) };
  }
  if (type === 'subscribe' || type === 'psubscribe' || type === 'unsubscribe' || type === 'punsubscribe') {
    const count = Number(rest);
    return Number.isInteger(count) ? { type, channel: first, count } : undefined;
  }
  return undefined;
}

/**
 * Splits a text stream into lines at `\n` (no `\r` stripping, as the official client) and parses each.
 * A line longer than `maxLineChars` (default 16 Mi characters) throws, so a stream can never grow memory unbounded.
 */
export class SseParser {
  #buffer = '';
  readonly #maxLineChars: number;

  /** @param maxLineChars longest line accepted, in UTF-16 code units. */
  constructor(maxLineChars = 16 * 1024 * 1024) {
    this.#maxLineChars = maxLineChars;
  }

  /** Feeds a chunk of decoded text; returns the events of every line it completed. */
  push(chunk: string): SseEvent[] {
    const lines = (this.#buffer + chunk).split('\n');
    this.#buffer = lines.pop() ?? '';
    if (this.#buffer.length > this.#maxLineChars) throw new RangeError('SSE line exceeds maxLineChars');
    const events: SseEvent[] = [];
    for (const line of lines) {
      const event = parseSseLine(line);
      if (event) events.push(event);
    }
    return events;
  }
}
