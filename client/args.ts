// Turning command arguments into wire arguments: plain JSON values, or base64 bytes for binary-safe frames.

import { encodeBase64, utf8DecodeExact, utf8Encode } from './base64.js';
import type { WireCommand } from './wire.js';

/** One command argument. `bigint` is sent as its exact decimal text; `Uint8Array` as its exact bytes. */
export type Arg = string | number | boolean | bigint | Uint8Array;

/**
 * The plain JSON form of an argument, as the REST API takes it: strings, numbers and booleans as they are,
 * a bigint as decimal text, bytes as text when they are valid UTF-8. Returns `undefined` for bytes that are
 * not valid UTF-8 (they cannot travel in a JSON string).
 */
export function plainArg(arg: Arg): string | number | boolean | undefined {
  if (arg instanceof Uint8Array) return utf8DecodeExact(arg);
  return typeof arg === 'bigint' ? String(arg) : arg;
}

/** The base64 of an argument's bytes: text as UTF-8, numbers, bigints and booleans as `String(arg)`. */
export function base64Arg(arg: Arg): string {
  return encodeBase64(arg instanceof Uint8Array ? arg : utf8Encode(String(arg)));
}

/**
 * Wire form of a batch of commands for a WebSocket frame. When any argument is a `Uint8Array`, every argument
 * after each command name is base64 and `argEncoding` is `"base64"` (docs/websocket.md); otherwise arguments are plain.
 */
export function encodeCommands(commands: ReadonlyArray<ReadonlyArray<Arg>>): {
  commands: WireCommand[];
  argEncoding?: 'base64';
} {
  const binary = commands.some((c) => c.some((a) => a instanceof Uint8Array));
  return {
    commands: commands.map(([name, ...rest]) => [
      String(plainArg(name ?? '')),
      ...rest.map((a) => (binary ? base64Arg(a) : (plainArg(a) as string | number | boolean))),
    ]),
    ...(binary ? { argEncoding: 'base64' as const } : {}),
  };
}
