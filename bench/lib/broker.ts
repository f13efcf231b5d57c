// Starts the Sluice broker under test as a child process and reads its start-up line and /metrics.
import { existsSync } from 'node:fs';
import { NODE_FLAGS } from '../../broker/lifecycle/node-flags.js';
import { withNofile } from './nofile.js';
import { brokerMain } from './paths.js';
import { type Service, startService } from './proc.js';

/** Raised when the broker cannot run at all; rows turn it into "n/a: <reason>". */
export class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError';
}

/** Options of one broker start. */
export interface BrokerOptions {
  readonly redisUrl: string;
  readonly token: string;
  /** `--workers`; the broker's default when undefined. */
  readonly workers?: number | undefined;
  /** `--pool-size`; the broker's default when undefined. */
  readonly poolSize?: number | undefined;
  /** Extra SLUICE_* variables (e.g. SLUICE_METRICS_ENABLED=false, SLUICE_WS_MAX_SOCKETS). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A running broker. */
export interface Broker {
  /** e.g. http://127.0.0.1:40123 */
  readonly httpUrl: string;
  readonly adminUrl: string;
  /** ws://…/ws?_token=… */
  readonly wsUrl: string;
  readonly pid: number;
  /** The /metrics text, or undefined when the admin listener does not serve it. */
  metrics(): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** Extracts the http= and admin= URLs from the broker's start-up line. */
export function parseReadyLine(line: string): { http: string; admin: string } | undefined {
  const http = /\bhttp=(https?:\/\/[^\s"',]+)/.exec(line)?.[1];
  const admin = /\badmin=(https?:\/\/[^\s"',]+)/.exec(line)?.[1];
  return http === undefined || admin === undefined ? undefined : { http, admin };
}

/** Starts `node dist/broker/main.js --port 0 --admin-port 0 …` and waits for its ready line. */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const main = brokerMain();
  if (!existsSync(main)) {
    throw new BrokerUnavailableError(`broker not built (${main} missing; merge main and rebuild)`);
  }
  // e.g. BENCH_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the broker under each scenario's load
  const nodeArgs = (process.env['BENCH_BROKER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  // The flags `npm start` and the container image run the broker with (broker/lifecycle/node-flags.ts).
  const args = [...NODE_FLAGS, ...nodeArgs, main];
  args.push('--redis-url', options.redisUrl, '--port', '0', '--admin-port', '0');
  args.push('--token', options.token);
  if (options.workers !== undefined) args.push('--workers', String(options.workers));
  if (options.poolSize !== undefined) args.push('--pool-size', String(options.poolSize));
  let service: Service;
  try {
    // raised open-files limit: the idle-sockets scenario holds 10,000 WebSockets
    const { command, args: argv } = withNofile(65536, process.execPath, args);
    service = await startService({
      name: 'broker',
      command,
      args: argv,
      // a short drain keeps restarts between rows fast; the log level keeps stdout quiet under load
      env: { SLUICE_DRAIN_TIMEOUT_MS: '1000', SLUICE_LOG_LEVEL: 'warn', ...options.env },
      readyLine: /\bhttp=https?:\/\/\S+.*\badmin=https?:\/\//,
      timeoutMs: 20000,
    });
  } catch (err) {
    throw new BrokerUnavailableError((err as Error).message);
  }
  const urls = parseReadyLine(service.readyText);
  if (urls === undefined || service.child.pid === undefined) {
    await service.stop();
    throw new BrokerUnavailableError(`unreadable start-up line: ${service.readyText}`);
  }
  const { http, admin } = urls;
  const wsUrl = `${http.replace(/^http/, 'ws')}/ws?_token=${encodeURIComponent(options.token)}`;
  return {
    httpUrl: http,
    adminUrl: admin,
    wsUrl,
    pid: service.child.pid,
    async metrics() {
      try {
        const response = await fetch(`${admin}/metrics`);
        return response.ok ? await response.text() : undefined;
      } catch {
        return undefined;
      }
    },
    stop: () => service.stop(),
  };
}
