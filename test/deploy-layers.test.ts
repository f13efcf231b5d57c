// The layer rule of docs/architecture.md, checked on the code: every relative import in broker/, metrics/ and tools/
// points to the same layer or one below it, and transports never import one another.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';

const root = normalize(new URL('..', import.meta.url).pathname);

/** Layers from the top: a file may import its own layer or a lower one (a larger number). */
const LAYERS: readonly [string, number][] = [
  ['broker/main.ts', 0],
  ['broker/lifecycle/', 1],
  ['tools/', 1],
  ['broker/http/', 2],
  ['broker/ws/', 2],
  ['broker/sse/', 2],
  ['broker/entrance/', 3],
  ['broker/protocol/', 4],
  ['broker/exec/', 5],
  ['broker/redis/', 6],
  ['broker/pubsub/', 6],
  ['broker/', 7],
  ['metrics/', 7],
  ['client/', 8],
];

/** The transports: the same layer, but none may import another. */
const TRANSPORTS = ['broker/http/', 'broker/ws/', 'broker/sse/'];

function layerOf(path: string): [string, number] {
  const found = LAYERS.find(([prefix]) => path === prefix || path.startsWith(prefix));
  if (!found) throw new Error(`${path} is in no layer of this test`);
  return found;
}

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(dir, name));
}

const files = [...sources('broker'), ...sources('metrics'), ...sources('tools')];

t.test('every import points to its own layer or a lower one', async (t) => {
  const upward: string[] = [];
  const sideways: string[] = [];
  let imports = 0;
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(root, join(root, dirname(file), match[1]!)).replace(/\.js$/, '.ts');
      const [fromPrefix, fromRank] = layerOf(file);
      const [toPrefix, toRank] = layerOf(target);
      imports++;
      if (toRank < fromRank) upward.push(`${file} -> ${target}`);
      if (fromPrefix !== toPrefix && TRANSPORTS.includes(fromPrefix) && TRANSPORTS.includes(toPrefix))
        sideways.push(`${file} -> ${target}`);
    }
  }
  t.ok(imports > 200, `${imports} imports read in ${files.length} files`);
  t.same(upward, [], 'no import points up');
  t.same(sideways, [], 'no transport imports another');
});
