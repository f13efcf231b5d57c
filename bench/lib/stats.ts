// Small, pure statistics helpers: percentiles of samples and medians of repeated runs.

/** The p-th percentile (0–100) of `values` by nearest rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Median of `values`, ignoring NaN; NaN when nothing is left. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

/** Largest of `values`, ignoring NaN; NaN when nothing is left. */
export function maxOf(values: readonly number[]): number {
  const finite = values.filter((v) => !Number.isNaN(v));
  return finite.length === 0 ? Number.NaN : Math.max(...finite);
}
