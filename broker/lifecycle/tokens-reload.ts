// The tokens file, read at start and again when it changes (fs.watch on its directory, debounced) or on SIGHUP: new
// tokens work at once, removed ones stop at once, and a broken file keeps the last good one (logged and counted).
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Authenticator, parseTokensFile, type TokenEntry } from '../protocol/auth.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Telemetry, TokensReloadOutcome } from '../telemetry.js';

/** The entries of a tokens file, or every problem found (an unreadable file included). */
export function readTokensFile(path: string): { entries: TokenEntry[] } | { problems: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return { problems: [`cannot read SLUICE_TOKENS_FILE ${path}: ${(error as Error).message}`] };
  }
  return parseTokensFile(text);
}

/** Problems of a valid file that the topology adds: tenants need a standalone SLUICE_REDIS_URL. */
export function topologyProblems(
  entries: readonly TokenEntry[],
  config: Pick<Config, 'redisClusterNodes' | 'redisSentinels'>,
): string[] {
  if (Authenticator.tenantsOf(entries).size === 0) return [];
  if (config.redisClusterNodes === undefined && config.redisSentinels === undefined) return [];
  return [
    'tenants (entries with "tenant" and "redisUrl") need a standalone SLUICE_REDIS_URL: they are refused under SLUICE_REDIS_CLUSTER_NODES or SLUICE_REDIS_SENTINELS',
  ];
}

/** The tokens file as start-up takes it: the entries, or every problem (syntax and topology). */
export function loadTokensFile(
  path: string,
  config: Pick<Config, 'redisClusterNodes' | 'redisSentinels'>,
): { entries: TokenEntry[] } | { problems: string[] } {
  const read = readTokensFile(path);
  if ('problems' in read) return read;
  const problems = topologyProblems(read.entries, config);
  return problems.length > 0 ? { problems } : read;
}

export interface TokensReloaderOptions {
  /** SLUICE_TOKENS_FILE. */
  readonly file: string;
  /** Tokens that do not come from the file (SLUICE_TOKEN, SLUICE_READONLY_TOKEN, a generated one): always kept. */
  readonly fixed: readonly TokenEntry[];
  /** The file's entries at start (already read and valid). */
  readonly initial: readonly TokenEntry[];
  /** Problems beyond the file's own syntax (e.g. tenants where the topology refuses them); none by default. */
  readonly check?: (entries: readonly TokenEntry[]) => string[];
  /** Takes a new full set of tokens (fixed ones first). */
  readonly apply: (entries: readonly TokenEntry[]) => void;
  /** Waits this long after the last change event before reading: editors and `kubectl` write in several steps. */
  readonly debounceMs?: number;
}

/** Watches and reloads the tokens file. Every reload reads the whole file again; nothing is applied in part. */
export class TokensReloader {
  readonly #options: TokensReloaderOptions;
  readonly #logger: Logger;
  readonly #telemetry: Telemetry;
  #applied: string;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TokensReloaderOptions, logger: Logger, telemetry: Telemetry) {
    this.#options = options;
    this.#logger = logger;
    this.#telemetry = telemetry;
    this.#applied = JSON.stringify(options.initial);
  }

  /**
   * Watches the file's directory (not the file: an editor or a Kubernetes ConfigMap replaces it, which a watch on
   * the old file would miss). Any event on the directory schedules a reload; an unchanged file is a no-op.
   */
  watch(): void {
    const file = basename(this.#options.file);
    try {
      this.#watcher = watch(dirname(this.#options.file), { persistent: false }, (_event, name) => {
        // ConfigMaps swap a `..data` symlink rather than the file itself: any name may mean the file changed.
        if (name === null || name === file || name.startsWith('..')) this.#schedule();
      });
      this.#watcher.on('error', (error) =>
        this.#logger.warn(
          { event: 'tokens_watch_failed', err: error },
          'watching the tokens file failed; SIGHUP still reloads it',
        ),
      );
    } catch (error) {
      this.#logger.warn(
        { event: 'tokens_watch_failed', err: error },
        'cannot watch the tokens file; SIGHUP still reloads it',
      );
    }
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.reload('changed');
    }, this.#options.debounceMs ?? 100);
    this.#timer.unref();
  }

  /** Reads the file now and applies it when it is valid and differs; says how it went. */
  reload(why: 'changed' | 'signal'): TokensReloadOutcome {
    const { file, fixed, apply } = this.#options;
    const read = readTokensFile(file);
    const more = 'entries' in read ? (this.#options.check?.(read.entries) ?? []) : [];
    const parsed = more.length > 0 ? { problems: more } : read;
    let outcome: TokensReloadOutcome;
    if ('problems' in parsed) {
      outcome = 'failed';
      this.#logger.error(
        { event: 'tokens_reload_failed', why, file, problems: parsed.problems },
        `kept the previous tokens: ${parsed.problems.length} problem(s) in ${file}: ${parsed.problems.join('; ')}`,
      );
    } else if (JSON.stringify(parsed.entries) === this.#applied) {
      outcome = 'unchanged';
      // A SIGHUP is always answered in the log (a watch event that changed nothing is not).
      if (why === 'signal')
        this.#logger.info({ event: 'tokens_reloaded', why, file, outcome }, 'the tokens file is unchanged');
    } else {
      apply([...fixed, ...parsed.entries]);
      this.#applied = JSON.stringify(parsed.entries);
      outcome = 'applied';
      this.#logger.info(
        { event: 'tokens_reloaded', why, file, outcome, tokens: parsed.entries.length },
        'reloaded the tokens file',
      );
    }
    this.#telemetry.tokensReloaded(outcome);
    return outcome;
  }

  close(): void {
    this.#watcher?.close();
    if (this.#timer) clearTimeout(this.#timer);
  }
}
