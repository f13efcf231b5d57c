// Reads the few numbers the harness needs from the broker's Prometheus text exposition.

/** Sum of every sample of `name` (all label sets); undefined when the family is absent. */
export function sampleSum(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

/** A histogram's running totals. */
export interface HistogramTotals {
  readonly metric: string;
  readonly sum: number;
  readonly count: number;
}

/** Names the batch-size histogram might carry; the first is the one docs/metrics.md lists and the harness asks for. */
export const BATCH_METRICS = [
  'sluice_batch_commands',
  'sluice_batch_size_commands',
  'sluice_batch_size',
] as const;

/** The batch-size histogram's sum and count, or undefined when the broker exports none. */
export function batchTotals(text: string): HistogramTotals | undefined {
  const names: string[] = [...BATCH_METRICS];
  const other = /^(sluice_batch\w*)_count[ {]/m.exec(text)?.[1];
  if (other !== undefined && !names.includes(other)) names.push(other);
  for (const metric of names) {
    const sum = sampleSum(text, `${metric}_sum`);
    const count = sampleSum(text, `${metric}_count`);
    if (sum !== undefined && count !== undefined) return { metric, sum, count };
  }
  return undefined;
}

/** Mean batch size between two scrapes (commands per pipelined write); NaN if unknown or nothing was written. */
export function meanBatch(before: HistogramTotals | undefined, after: HistogramTotals | undefined): number {
  if (after === undefined) return Number.NaN;
  const sum = after.sum - (before?.sum ?? 0);
  const count = after.count - (before?.count ?? 0);
  return count > 0 ? sum / count : Number.NaN;
}

/** The main pool's configured bound (`sluice_pool_max_connections{pool="main"}`, summed over workers), if exported. */
export function mainPoolMax(text: string): number | undefined {
  let total: number | undefined;
  for (const m of text.matchAll(/^sluice_pool_max_connections\{[^}]*pool="main"[^}]*\}\s+(\S+)/gm)) {
    total = (total ?? 0) + Number(m[1]);
  }
  return total;
}
