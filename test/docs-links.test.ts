// Every relative link in the project's markdown points to a file that exists, and every #anchor to a heading there.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import t from 'tap';

const root = new URL('..', import.meta.url).pathname;

/** The markdown a reader follows links through: README, docs/, the client guide, bench/ and its results. */
function documents(): string[] {
  const inDir = (dir: string) =>
    existsSync(join(root, dir))
      ? readdirSync(join(root, dir))
          .filter((name) => name.endsWith('.md'))
          .map((name) => join(dir, name))
      : [];
  return ['README.md', 'client/README.md', ...inDir('docs'), ...inDir('bench'), ...inDir('bench/results')];
}

/** The text outside fenced code blocks: links inside examples are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2, … */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, text] of prose(markdown).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = text!
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Relative link targets of a document: `[text](target)`, without external URLs. */
function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const [, target] of prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto:
    links.push(target!);
  }
  return links;
}

/** Repository paths a document names in backquotes (`broker/redis/batcher.ts`, `metrics/`), patterns left out. */
function namedPaths(markdown: string): string[] {
  return [
    ...prose(markdown).matchAll(/`((?:broker|client|metrics|tools|test|bench|examples|docs)\/[^`\s]*)`/g),
  ]
    .map((m) => m[1]!)
    .filter((path) => !/[*<>{}]/.test(path));
}

t.test('every repository path the docs name in backquotes exists', async (t) => {
  let named = 0;
  // Results files are records of their commit: they name files as they were then.
  for (const file of documents().filter((path) => !path.startsWith('bench/results/'))) {
    for (const path of namedPaths(readFileSync(join(root, file), 'utf8'))) {
      named++;
      t.ok(existsSync(join(root, path)), `${file}: \`${path}\` exists`);
    }
  }
  t.ok(named >= 40, `${named} paths checked`);
});

t.test('the anchor rule matches GitHub on the headings these docs use', async (t) => {
  const anchors = anchorsOf(
    '# A\n## Compatibility with `@upstash/redis`, `@vercel/kv` and `@upstash/ratelimit`\n' +
      '## Pub/sub and MONITOR (Server-Sent Events)\n## Limits\n### Limits\n```\n# not a heading\n```\n',
  );
  t.same(
    [...anchors],
    [
      'a',
      'compatibility-with-upstashredis-vercelkv-and-upstashratelimit',
      'pubsub-and-monitor-server-sent-events',
      'limits',
      'limits-1',
    ],
  );
});

t.test('every relative link and anchor resolves', async (t) => {
  const files = documents();
  t.ok(files.length >= 10, `${files.length} documents checked`);
  let checked = 0;
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const link of relativeLinks(text)) {
      checked++;
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? join(root, file) : join(root, dirname(file), decodeURIComponent(path));
      const shown = `${file}: ${link}`;
      if (!existsSync(target)) {
        t.fail(`${shown}: ${relative(root, target)} does not exist`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (!target.endsWith('.md') || statSync(target).isDirectory()) {
        t.fail(`${shown}: an anchor into a file that is not markdown`);
        continue;
      }
      t.ok(anchorsOf(readFileSync(target, 'utf8')).has(anchor), `${shown}: heading #${anchor} exists`);
    }
  }
  t.ok(checked >= 40, `${checked} links checked`);
});
