// Runs plain redis-benchmark against the private Redis: the RESP reference with no HTTP in the path.
import { runCommand } from './proc.js';

/** One redis-benchmark GET run. */
export interface RedisBenchmarkResult {
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Parses the --csv output of redis-benchmark 7 ("test","rps","avg_latency_ms",…,"p50_latency_ms",…). */
export function parseRedisBenchmarkCsv(text: string): RedisBenchmarkResult {
  const rows = text
    .trim()
    .split('\n')
    .map((line) => line.split(',').map((cell) => cell.replaceAll('"', '')));
  const header = rows[0] ?? [];
  const data = rows.find((row) => row[0]?.startsWith('GET'));
  if (data === undefined) throw new Error(`redis-benchmark printed no GET row: ${text.slice(0, 200)}`);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    return i < 0 ? Number.NaN : Number(data[i]);
  };
  return { requestsPerS: col('rps'), p50Ms: col('p50_latency_ms'), p99Ms: col('p99_latency_ms') };
}

/** `redis-benchmark -t get -c <clients> -n <requests> [-P <pipeline>] --csv`. */
export async function runRedisBenchmark(
  port: number,
  clients: number,
  requests: number,
  pipeline = 1,
): Promise<RedisBenchmarkResult> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'get', '-c', String(clients)];
  args.push('-n', String(requests), '-P', String(pipeline), '--csv');
  return parseRedisBenchmarkCsv(await runCommand('redis-benchmark', args));
}
