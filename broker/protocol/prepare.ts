// One code path from an argument list to a command ready to send: name, rights, routing, script fixes. Pure.
import { type Principal, noPermission, permits } from './auth.js';
import { SluiceError } from '../errors.js';
import { type CommandTable, lookupCommand } from './command-table.js';
import { classify } from './classify.js';
import { emulate } from './emulate.js';
import type { Arg, PreparedCommand, Reply, RunAs } from '../redis/command.js';
import type { ScriptAliases } from './scripts.js';
import { aclCommandRules, isRestricted, SCRIPT_COMMANDS } from './script-rights.js';

// Transports hand prepared commands to the executor; the shape itself lives with the layers that run it.
export type { PreparedCommand } from '../redis/command.js';

/** Answers whether scripts under these ACL rules are already known to be refused (see ScriptUsers.refusal). */
export type ScriptGate = (runAs: RunAs) => SluiceError | undefined;

/** What a CommandPreparer is built with. */
export interface CommandPreparerOptions {
  /** The script aliases (shebang flags, SHA rewrites) of this broker. */
  readonly scripts: ScriptAliases;
  /** Decides about scripts of restricted callers before they are admitted. */
  readonly scriptGate: ScriptGate;
  /** Hears every command this preparer refuses (for the refusals metric). */
  readonly onRefused: (error: SluiceError) => void;
}

function text(arg: Arg | undefined): string | undefined {
  return arg === undefined ? undefined : typeof arg === 'string' ? arg : arg.toString('utf8');
}

/**
 * Whether a command not flagged readonly may change data or reach replicas: flagged `write` or `may_replicate`, a
 * script (Redis 7.0 flags EVAL and FCALL neither way), or PUBLISH (propagated to replicas).
 */
function mayChangeData(name: string, flags: ReadonlySet<string>): boolean {
  return flags.has('write') || flags.has('may_replicate') || SCRIPT_COMMANDS.has(name) || name === 'publish';
}

/** Checks and rewrites commands for one broker: the Redis command table and the script aliases. */
export class CommandPreparer {
  #table: CommandTable = new Map();
  readonly #wireNames = new Map<string, string>();
  readonly #scripts: ScriptAliases;
  readonly #onRefused: (error: SluiceError) => void;
  readonly #scriptGate: ScriptGate;
  /** Each restricted caller's ACL rules, computed once from the table (one object per caller keys ScriptUsers). */
  #runAs = new WeakMap<Principal, RunAs>();

  constructor(options: CommandPreparerOptions) {
    this.#scripts = options.scripts;
    this.#scriptGate = options.scriptGate;
    this.#onRefused = options.onRefused;
  }

  /** Whether the command table has been read from Redis. */
  get ready(): boolean {
    return this.#table.size > 0;
  }

  /** Installs the table read from Redis's COMMAND reply. */
  setTable(table: CommandTable): void {
    this.#table = table;
    this.#runAs = new WeakMap();
  }

  /** Whether Redis knows the command (for bounded metric labels). */
  knows(name: string): boolean {
    return this.#table.has(name);
  }

  /** Prepares one command (`argv[0]` is the name), or returns the error that refuses it. Never throws. */
  prepare(argv: readonly Arg[], principal: Principal): PreparedCommand | SluiceError {
    const prepared = this.#prepare(argv, principal);
    if (prepared instanceof SluiceError) this.#onRefused(prepared);
    return prepared;
  }

  #prepare(argv: readonly Arg[], principal: Principal): PreparedCommand | SluiceError {
    const first = argv[0];
    const name = (typeof first === 'string' ? first : (first?.toString('latin1') ?? '')).toLowerCase();
    if (name === '')
      return new SluiceError(
        'SLUICE_ERR_REQUEST_BAD_COMMAND',
        'ERR expected a command name, got an empty string',
      );
    if (this.#table.size === 0) {
      // Without Redis's command list nothing can be classified safely (a BLPOP could stall the shared pool).
      return new SluiceError(
        'SLUICE_ERR_REDIS_UNAVAILABLE',
        'ERR Redis has not been reached yet; nothing was sent',
      );
    }
    const given = argv.slice(1);
    const info = lookupCommand(this.#table, name, text(given[0]));
    if (!permits(principal, name, info)) return noPermission(info?.name ?? name); // 'config|set' for a subcommand, as Redis names it
    const classification = classify(name, given, info);
    if ('refused' in classification)
      return new SluiceError('SLUICE_ERR_COMMAND_REFUSED', classification.refused);
    let runAs: RunAs | undefined;
    if (SCRIPT_COMMANDS.has(name) && isRestricted(principal)) {
      runAs = this.#runAsOf(principal);
      const refused = this.#scriptGate(runAs);
      if (refused) return refused;
    }
    const label = info ? name : 'other';
    const readOnly = info?.flags.has('readonly') === true;
    const mayWrite = info === undefined || (!readOnly && mayChangeData(name, info.flags));
    const emulated = emulate(name, given);
    if (emulated) return { name, ...emulated, route: classification.route, readOnly, mayWrite, label, runAs };
    const { args, mapReply } = this.#rewriteScripts(name, given);
    // One shape for every prepared command, and one wire name string per known command: the executor and ioredis
    // then see the same hidden class and the same (already hashed) name every time.
    return {
      name,
      wireName: info ? this.#wireName(name) : name.toUpperCase(),
      args,
      route: classification.route,
      readOnly,
      mayWrite,
      label,
      mapReply,
      runAs,
    };
  }

  /** The ACL rules `principal`'s scripts run under, the same object each time. */
  #runAsOf(principal: Principal): RunAs {
    let runAs = this.#runAs.get(principal);
    if (runAs === undefined) {
      runAs = { rules: aclCommandRules(principal, this.#table) };
      this.#runAs.set(principal, runAs);
    }
    return runAs;
  }

  /** The upper-case name of a command Redis knows (bounded by its command table). */
  #wireName(name: string): string {
    let wireName = this.#wireNames.get(name);
    if (wireName === undefined) {
      wireName = name.toUpperCase();
      this.#wireNames.set(name, wireName);
    }
    return wireName;
  }

  /** Shebang flags and SHA aliases for the script commands (docs/rest-api.md, scripts). */
  #rewriteScripts(name: string, args: Arg[]): { args: Arg[]; mapReply?: (reply: Reply) => Reply } {
    switch (name) {
      case 'eval':
      case 'eval_ro': {
        const fixed = args[0] === undefined ? undefined : this.#scripts.normalise(text(args[0])!);
        return fixed ? { args: [fixed.source, ...args.slice(1)] } : { args };
      }
      case 'evalsha':
      case 'evalsha_ro':
        return args[0] === undefined
          ? { args }
          : { args: [this.#scripts.resolve(text(args[0])!), ...args.slice(1)] };
      case 'script': {
        const sub = text(args[0])?.toLowerCase();
        if (sub === 'load' && args[1] !== undefined) {
          const fixed = this.#scripts.normalise(text(args[1])!);
          if (!fixed) return { args };
          const original = Buffer.from(fixed.originalSha);
          return {
            args: [args[0]!, fixed.source],
            mapReply: (reply) => (reply instanceof Error ? reply : original),
          };
        }
        if (sub === 'exists')
          return { args: args.map((a, i) => (i === 0 ? a : this.#scripts.resolve(text(a)!))) };
        return { args };
      }
      default:
        return { args };
    }
  }
}
