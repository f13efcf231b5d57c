// Starting a broker for a test: in-process (port 0 on both listeners, a known token, a quiet logger), or from its
// entry point as a child process.
import { type ChildProcess, spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import type { Clock } from '../../broker/clock.js';
import type { TokenEntry } from '../../broker/protocol/auth.js';
import { type Broker, startBroker } from '../../broker/lifecycle/broker.js';
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
  /** The broker's clock (a ManualClock to drive its timeouts); real by default. close()'s drain deadline runs on it too. */
  readonly clock?: Clock;
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
    ...(options.clock ? { clock: options.clock } : {}),
  });
}

/**
 * Why startBroker refuses to start (nothing listens on its Redis port, so a broker that did start would only
 * reconnect): for the start-up checks of the libraries' internals. Undefined when it started (and it is closed).
 */
export async function startRefusal(): Promise<Error | undefined> {
  return startBroker({
    config: testConfig(),
    redisUrl: 'redis://127.0.0.1:1',
    tokens: [],
    logger: createLogger('silent'),
    admin: false,
  }).then(
    async (broker) => {
      await broker.close();
      return undefined;
    },
    (error: unknown) => error as Error,
  );
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

/** A broker started from its entry point (`broker/main.ts`) as a child process. */
export interface BrokerProcess {
  readonly child: ChildProcess;
  /** The main and admin listeners' URLs from its ready line. */
  readonly url: string;
  readonly adminUrl: string;
  /** What it wrote to stderr (its log) so far. */
  stderr(): string;
  /** What it wrote to stdout so far (its `sluice ready http=… admin=…` line). */
  stdout(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Runs `node <tap's loader flags> <nodeFlags> broker/main.ts <args>` and resolves at its `sluice ready` line. The
 * loader flags are the ones tap runs this test file with, so the TypeScript entry runs in the primary and workers.
 */
export async function spawnBrokerProcess(
  args: readonly string[],
  options: { nodeFlags?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<BrokerProcess> {
  const main = new URL('../../broker/main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [...process.execArgv, ...(options.nodeFlags ?? []), main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const [url, adminUrl] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const ready = /sluice ready http=(\S+) admin=(\S+)/.exec(out);
      if (ready) resolve([ready[1]!, ready[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}${err}`)));
  });
  return { child, url, adminUrl, stderr: () => err, stdout: () => out, stop };
}

/** A broker started from its build (`dist/broker/main.js`), as `npm start` and the image run it. */
export interface BuiltBroker {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminUrl: string;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Runs `node dist/broker/main.js --redis-url <redisUrl> --port 0 --admin-port 0 --token TOKEN <args>` (build first)
 * and resolves at its ready line; the caller kills it in t.teardown. stderr is inherited.
 */
export async function spawnBuiltBroker(redisUrl: string, args: readonly string[]): Promise<BuiltBroker> {
  const child = spawn(
    process.execPath,
    [
      'dist/broker/main.js',
      '--redis-url',
      redisUrl,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--token',
      TOKEN,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (code, signal) => resolve([code, signal])),
  );
  const { url, adminUrl } = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /sluice ready http=(\S+) admin=(\S+)/.exec(out);
      if (match) resolve({ url: match[1]!, adminUrl: match[2]! });
    });
    void exited.then(([code]) => reject(new Error(`broker exited early with ${code}`)));
  });
  return { child, url, adminUrl, exited };
}
