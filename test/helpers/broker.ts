// Starting a broker in-process for a test: port 0 on both listeners, a known token, a quiet logger.
import { Writable } from 'node:stream';
import type { TokenEntry } from '../../broker/auth.js';
import { type Broker, startBroker } from '../../broker/broker.js';
import { type Config, parseConfig } from '../../broker/config.js';
import { createLogger } from '../../broker/log.js';
import type { Telemetry } from '../../broker/telemetry.js';

export const TOKEN = 'test-token-full-access';
export const READONLY_TOKEN = 'test-token-read-only';

/** Config as the CLI would build it from these flags, with ports 0 and the test tokens. */
export function testConfig(flags: Record<string, string | number | boolean> = {}): Config {
  const argv = [
    '--port',
    '0',
    '--admin-port',
    '0',
    '--token',
    TOKEN,
    '--readonly-token',
    READONLY_TOKEN,
    '--log-level',
    'silent',
  ];
  for (const [key, value] of Object.entries(flags)) argv.push(`--${key}`, String(value));
  const parsed = parseConfig(argv, {});
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.config;
}

export interface TestBrokerOptions {
  readonly flags?: Record<string, string | number | boolean>;
  readonly tokens?: readonly TokenEntry[];
  readonly telemetry?: Telemetry;
  /** Collects the JSON log lines (for assertions that tokens never appear). */
  readonly logLines?: string[];
}

/** Starts a broker against `redisUrl`. Call `close()` in t.teardown. */
export async function startTestBroker(redisUrl: string, options: TestBrokerOptions = {}): Promise<Broker> {
  const config = testConfig(options.flags);
  const lines = options.logLines;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines?.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger(lines ? 'debug' : 'silent', sink);
  const tokens: TokenEntry[] = [
    { token: TOKEN, name: 'SLUICE_TOKEN', right: 'admin' },
    { token: READONLY_TOKEN, name: 'SLUICE_READONLY_TOKEN', right: 'readonly' },
    ...(options.tokens ?? []),
  ];
  return startBroker({
    config,
    redisUrl,
    tokens,
    logger,
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
  });
}

/** POSTs JSON (or raw text) to the broker and returns status, headers and parsed body. */
export async function post(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}
