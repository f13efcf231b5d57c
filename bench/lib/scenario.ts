// The shape of a scenario module: an id, a title and a run that returns its part of the report.
import type { BenchContext, RowResult } from './rows.js';
import type { ScenarioReport } from './table.js';

/** A scenario's report plus its rows, which later scenarios may compare against. */
export interface ScenarioOutcome extends ScenarioReport {
  readonly rows: readonly RowResult[];
}

/** One benchmark scenario of issue 7. */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** `earlier` holds the outcomes of the scenarios that already ran, by id. */
  run(ctx: BenchContext, earlier: ReadonlyMap<string, ScenarioOutcome>): Promise<ScenarioOutcome>;
}
