// Turning request bodies (JSON commands, pipelines, base64 arguments) into argument lists. Pure.
import { SluiceError } from '../errors.js';
import type { Arg } from '../redis/command.js';

// Transports name arguments through the protocol; the type itself lives with the commands the pools run.
export type { Arg } from '../redis/command.js';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function badCommand(message: string): SluiceError {
  return new SluiceError('SLUICE_ERR_REQUEST_BAD_COMMAND', `ERR ${message}`);
}

/** Parses JSON text, or a 400 naming what was wrong. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new SluiceError(
      'SLUICE_ERR_REQUEST_BAD_JSON',
      `ERR failed to parse the body as JSON: ${(error as Error).message}`,
    );
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes strict, padded-or-not standard base64; throws on anything else (Buffer.from would silently skip junk). */
export function decodeBase64(text: string, where: string): Buffer {
  if (!BASE64.test(text) || text.length % 4 === 1)
    throw badCommand(`${where}: expected base64, got ${JSON.stringify(text.slice(0, 40))}`);
  return Buffer.from(text, 'base64');
}

/**
 * Reads `"…","…"]` from `from` (just past a `[`) to `close` (the index of its `]`) when every element is a string of
 * printable ASCII other than `"` and `\`, with nothing between them but commas: the strings JSON.parse would give
 * for that text, in one pass. Anything else (an escape, another character, a number, whitespace, the `]` elsewhere)
 * returns undefined and the caller takes the general way. Most commands are this shape, as JSON.stringify writes
 * them, and reading them by hand is a third of the cost of JSON.parse and the checks after it
 * (bench/results/code-comment-figures.md).
 */
export function readPlainStrings(text: string, from: number, close: number): string[] | undefined {
  if (text.charCodeAt(from) !== 0x22) return undefined;
  const strings: string[] = [];
  let start = from + 1;
  let i = start;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      strings.push(text.slice(start, i));
      if (i + 1 === close) return text.charCodeAt(close) === 0x5d ? strings : undefined;
      if (text.charCodeAt(i + 1) !== 0x2c || text.charCodeAt(i + 2) !== 0x22) return undefined;
      start = i + 3;
      i = start;
      continue;
    }
    // printable ASCII but the backslash; NaN past the end fails both comparisons
    if (!(c >= 0x20 && c <= 0x7e) || c === 0x5c) return undefined;
    i++;
  }
}

/** readPlainStrings read as a command: also undefined when the name (the first string) is empty, as parseCommand. */
export function readPlainCommand(text: string, from: number, close: number): Arg[] | undefined {
  const strings = readPlainStrings(text, from, close);
  return strings === undefined || strings[0] === '' ? undefined : strings;
}

/** A single-command body (`POST /`) as an argument list; errors as parseCommand's. */
export function parseCommandBody(body: string): Arg[] {
  const plain = body.charCodeAt(0) === 0x5b ? readPlainCommand(body, 1, body.length - 1) : undefined;
  return plain ?? parseCommand(parseJson(body), 'body');
}

/**
 * Validates one command: a non-empty array whose first element is the command name (a string) and whose
 * arguments are strings, numbers or booleans. Numbers become `String(n)`, exactly what the client serialised.
 */
export function parseCommand(value: unknown, where: string, argBase64 = false): Arg[] {
  if (!Array.isArray(value))
    throw badCommand(
      `${where}: expected a command as a JSON array such as ["GET","key"], got ${describe(value)}`,
    );
  if (value.length === 0) throw badCommand(`${where}: expected a command, got an empty array`);
  const name = value[0];
  if (typeof name !== 'string' || name === '')
    throw badCommand(
      `${where}: expected the command name as a non-empty string first, got ${describe(name)}`,
    );
  const args: Arg[] = [name];
  for (let i = 1; i < value.length; i++) {
    const arg: unknown = value[i];
    if (typeof arg === 'string') args.push(argBase64 ? decodeBase64(arg, `${where}[${i}]`) : arg);
    else if (typeof arg === 'number') {
      if (!Number.isFinite(arg)) throw badCommand(`${where}[${i}]: expected a finite number`);
      args.push(String(arg));
    } else if (typeof arg === 'boolean') args.push(arg ? 'true' : 'false');
    else throw badCommand(`${where}[${i}]: expected a string, number or boolean, got ${describe(arg)}`);
  }
  return args;
}

/** Validates a list of commands (a pipeline or transaction body) of at most `maxCommands`. */
export function parseCommandList(value: unknown, maxCommands: number, argBase64 = false): Arg[][] {
  if (!Array.isArray(value))
    throw badCommand(
      `expected a JSON array of commands such as [["SET","k","v"],["GET","k"]], got ${describe(value)}`,
    );
  if (value.length === 0) throw badCommand('expected at least one command, got an empty array');
  if (value.length > maxCommands) {
    throw new SluiceError(
      'SLUICE_ERR_REQUEST_TOO_MANY_COMMANDS',
      `ERR ${value.length} commands in one request; the limit is ${maxCommands} (SLUICE_MAX_PIPELINE_COMMANDS)`,
    );
  }
  return value.map((command, index) => parseCommand(command, `command ${index}`, argBase64));
}
