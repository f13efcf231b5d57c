// Command families: duration by command and outcomes by command, with label children resolved once per command.
import type { Registry } from 'prom-client';
import type { CommandOutcome } from '../broker/telemetry.js';
import type { FastCounter, FastHistogram } from './fast-families.js';
import { eventCounter, histogram } from './family.js';

/** 0.5 ms … 30 s: from a GET on a local Redis to a blocking command capped by SLUICE_BLOCKING_MAX_MS. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A guard on top of the executor's own bound (names from Redis's COMMAND list, about 250): beyond this many
 * distinct labels everything new is counted as `other`, so a bug upstream cannot explode the series count.
 */
const MAX_COMMAND_LABELS = 1000;

interface CommandChildren {
  readonly duration: { observe(seconds: number): void };
  readonly outcomes: Partial<Record<CommandOutcome, { inc(): void }>>;
}

/** `sluice_command_duration_seconds` and `sluice_commands_total`. */
export class CommandMetrics {
  readonly #duration: FastHistogram;
  readonly #total: FastCounter;
  readonly #children = new Map<string, CommandChildren>();

  constructor(registry: Registry) {
    this.#duration = histogram(registry, 'sluice_command_duration_seconds', DURATION_BUCKETS);
    this.#total = eventCounter(registry, 'sluice_commands_total');
  }

  done(command: string, seconds: number, outcome: CommandOutcome): void {
    const children = this.#children.get(command) ?? this.#add(command);
    children.duration.observe(seconds);
    let outcomeChild = children.outcomes[outcome];
    if (outcomeChild === undefined) {
      outcomeChild = this.#total.labels(command, outcome);
      children.outcomes[outcome] = outcomeChild;
    }
    outcomeChild.inc();
  }

  #add(command: string): CommandChildren {
    if (this.#children.size >= MAX_COMMAND_LABELS) {
      const other = this.#children.get('other');
      if (other) return other;
      command = 'other';
    }
    const children: CommandChildren = { duration: this.#duration.labels(command), outcomes: {} };
    this.#children.set(command, children);
    return children;
  }
}
