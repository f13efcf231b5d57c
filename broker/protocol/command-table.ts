// What Redis says about its commands (the COMMAND reply), turned into a lookup table. Pure: no I/O.

/** What the broker needs to know about one command or subcommand. */
export interface CommandInfo {
  /** Lower-case name; subcommands as `container|sub` (e.g. `config|get`). */
  readonly name: string;
  /** Redis arity: positive = exact argument count including the name, negative = at least. */
  readonly arity: number;
  readonly flags: ReadonlySet<string>;
  /** Subcommands by lower-case subcommand name. */
  readonly subcommands: ReadonlyMap<string, CommandInfo> | undefined;
}

/** Every command the connected Redis knows, by lower-case name. */
export type CommandTable = ReadonlyMap<string, CommandInfo>;

type Raw = unknown;

function text(value: Raw): string {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  return String(value);
}

function parseEntry(entry: Raw): CommandInfo | undefined {
  if (!Array.isArray(entry) || entry.length < 3) return undefined;
  const name = text(entry[0]).toLowerCase();
  const arity = Number(text(entry[1]));
  const flags = new Set(Array.isArray(entry[2]) ? entry[2].map((f) => text(f).toLowerCase()) : []);
  let subcommands: Map<string, CommandInfo> | undefined;
  // Redis 7 puts subcommands at index 9 (https://redis.io/docs/latest/commands/command/).
  const subs = entry[9];
  if (Array.isArray(subs) && subs.length > 0) {
    subcommands = new Map();
    for (const sub of subs) {
      const info = parseEntry(sub);
      if (info) subcommands.set(info.name.slice(info.name.indexOf('|') + 1), info);
    }
  }
  return { name, arity, flags, subcommands };
}

/** Builds the table from the raw reply of `COMMAND` (arrays of Buffers/strings, as ioredis returns them). */
export function buildCommandTable(reply: Raw): CommandTable {
  const table = new Map<string, CommandInfo>();
  if (!Array.isArray(reply)) return table;
  for (const entry of reply) {
    const info = parseEntry(entry);
    if (info) table.set(info.name, info);
  }
  return table;
}

/**
 * The entry that governs a call: the subcommand's when the command has subcommands and one is named
 * (`CONFIG GET` → `config|get`), else the command's own. Undefined for commands Redis does not know.
 */
export function lookupCommand(
  table: CommandTable,
  name: string,
  firstArg: string | undefined,
): CommandInfo | undefined {
  const info = table.get(name);
  if (!info?.subcommands || firstArg === undefined) return info;
  return info.subcommands.get(firstArg.toLowerCase()) ?? info;
}
