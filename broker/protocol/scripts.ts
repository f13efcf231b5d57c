// Lua scripts from Upstash clients: strip shebang flags Redis does not know, and alias the client's SHA to the stored one.
// See docs/rest-api.md, scripts: @upstash/ratelimit sends `#!lua flags=allow-key-locking`, which Redis 7 rejects.
import { createHash } from 'node:crypto';

/** Shebang flags plain Redis understands (https://redis.io/docs/latest/develop/interact/programmability/lua-api/). */
const KNOWN_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);

function sha1(source: string | Buffer): string {
  return createHash('sha1').update(source).digest('hex');
}

/**
 * The script with unknown shebang flags removed, or undefined when it needs no change. Only the first line
 * (`#!lua flags=a,b`) is touched.
 */
export function normaliseScript(source: string): string | undefined {
  if (!source.startsWith('#!lua')) return undefined;
  const end = source.indexOf('\n');
  const line = end === -1 ? source : source.slice(0, end);
  const words = line.slice(5).trim().split(/\s+/).filter(Boolean);
  let changed = false;
  const kept: string[] = [];
  for (const word of words) {
    if (!word.startsWith('flags=')) {
      kept.push(word);
      continue;
    }
    const flags = word.slice(6).split(',').filter(Boolean);
    const known = flags.filter((f) => KNOWN_FLAGS.has(f));
    if (known.length !== flags.length) changed = true;
    if (known.length > 0) kept.push(`flags=${known.join(',')}`);
  }
  if (!changed) return undefined;
  const shebang = kept.length > 0 ? `#!lua ${kept.join(' ')}` : '#!lua';
  return end === -1 ? shebang : shebang + source.slice(end);
}

/** Remembers original SHA → normalised SHA, bounded, oldest forgotten first. Per process; NOSCRIPT re-teaches it. */
export class ScriptAliases {
  readonly #aliases = new Map<string, string>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  /** Normalises a script; when it changed, remembers the alias and returns the new source and the original SHA. */
  normalise(source: string): { source: string; originalSha: string } | undefined {
    const normalised = normaliseScript(source);
    if (normalised === undefined) return undefined;
    const originalSha = sha1(source);
    this.#aliases.delete(originalSha);
    this.#aliases.set(originalSha, sha1(normalised));
    if (this.#aliases.size > this.#max) this.#aliases.delete(this.#aliases.keys().next().value!);
    return { source: normalised, originalSha };
  }

  /** The SHA Redis stores for a script the client knows by `sha`, or `sha` itself. */
  resolve(sha: string): string {
    return this.#aliases.get(sha.toLowerCase()) ?? sha;
  }
}
