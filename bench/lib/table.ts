// Markdown rendering of rows, ratios and target checks; pure, so the format is easy to change in one place.
import type { RowResult } from './rows.js';

/** A scenario's outcome as printed: a markdown body plus the targets it checked. */
export interface ScenarioReport {
  readonly id: string;
  readonly title: string;
  readonly lines: readonly string[];
  readonly checks: readonly Check[];
}

/** One target of issue 7 and how this run did against it. */
export interface Check {
  readonly target: string;
  readonly measured: string;
  readonly status: 'met' | 'missed' | 'n/a';
}

/** Formats a count or rate: 53,913. */
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

/** Formats milliseconds with precision that suits the size: 0.231, 1.42, 37.1. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  return ms.toFixed(1);
}

/** Formats a ratio: 0.82×. */
export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : '–';
}

/** Formats a plain number with one decimal, or a dash. */
export function fmt1(n: number): string {
  return Number.isFinite(n) ? n.toFixed(1) : '–';
}

/** A markdown table from a header and rows of cells. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const clean = (cell: string): string => cell.replaceAll('|', '\\|').replaceAll('\n', ' ');
  return [
    `| ${header.map(clean).join(' | ')} |`,
    // text columns (the first and a trailing "notes") align left, numbers right
    `|${header.map((h, i) => (i === 0 || h === 'notes' ? '---' : '--:')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(clean).join(' | ')} |`),
  ];
}

/** Options of the standard throughput table. */
export interface StandardTableOptions {
  /** Unit of the throughput column, e.g. "req/s" or "cmd/s". */
  readonly unit: string;
  /** Row whose throughput the ratio column divides by. */
  readonly ratioTo?: string;
  /** Per-row text for the last column. */
  readonly notes?: ReadonlyMap<string, string>;
}

/** Throughput, p50, p99, errors, Redis clients, batch size and ratio; "n/a: reason" rows keep their place. */
export function standardTable(rows: readonly RowResult[], options: StandardTableOptions): string[] {
  const base = rows.find((r) => r.name === options.ratioTo);
  const header = [
    'target',
    options.unit,
    'p50 ms',
    'p99 ms',
    'errors',
    'Redis clients peak (idle)',
    'mean batch',
    options.ratioTo === undefined ? 'ratio' : `× ${options.ratioTo}`,
    'notes',
  ];
  const body = rows.map((r) => {
    const note = [
      r.na === undefined ? undefined : `n/a: ${r.na}`,
      r.na === undefined ? options.notes?.get(r.name) : undefined,
      r.note,
    ]
      .filter((x) => x !== undefined && x !== '')
      .join('; ');
    if (r.na !== undefined) return [r.name, '–', '–', '–', '–', '–', '–', '–', note];
    const ratio = base === undefined || base.na !== undefined ? Number.NaN : r.throughput / base.throughput;
    return [
      r.name,
      fmtInt(r.throughput),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      fmtInt(r.errors),
      Number.isFinite(r.clientsPeak) ? `${r.clientsPeak} (${r.clientsIdle})` : '–',
      fmt1(r.batchMean),
      fmtRatio(ratio),
      note,
    ];
  });
  return markdownTable(header, body);
}

/** The closing summary of all targets. */
export function checksTable(reports: readonly ScenarioReport[]): string[] {
  const rows = reports.flatMap((report) =>
    report.checks.map((c) => [
      `${report.id}`,
      c.target,
      c.measured,
      c.status === 'met' ? '✅ met' : c.status === 'missed' ? '❌ missed' : 'n/a',
    ]),
  );
  return markdownTable(['scenario', 'target', 'measured', 'status'], rows).map((line, i) =>
    i === 1 ? '|---|---|---|---|' : line,
  );
}

/** A check from a value and a threshold; n/a when the value is unknown. */
export function check(target: string, value: number, ok: (v: number) => boolean, measured: string): Check {
  if (!Number.isFinite(value)) return { target, measured: 'n/a', status: 'n/a' };
  return { target, measured, status: ok(value) ? 'met' : 'missed' };
}
