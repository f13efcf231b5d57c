// The docs' generated tables (configuration, errors, README's settings, the client's codes) must equal what the
// code renders, both ways.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { envName, OPTIONS } from '../broker/config.js';
import { ERROR_CATALOGUE } from '../broker/errors.js';
import { CLIENT_CODES } from '../client/errors.js';
import {
  COMMON_SETTINGS,
  clientCodeDocs,
  GENERATED_DOCUMENTS,
  renderDocument,
  repositoryRoot,
} from '../tools/docs.js';

const root = repositoryRoot();
const read = (path: string) => readFileSync(join(root, path), 'utf8');
/** Backquoted `SLUICE_…` names in a text. */
const namesIn = (text: string) => new Set([...text.matchAll(/`(SLUICE_[A-Z0-9_]+)`/g)].map((m) => m[1]!));

t.test('generated blocks are current (run `npm run docs` to update)', async (t) => {
  for (const document of GENERATED_DOCUMENTS) {
    const text = read(document.path);
    t.equal(renderDocument(text, document), text, document.path);
  }
});

t.test('every option is in docs/configuration.md and every error code in docs/errors.md', async (t) => {
  const configuration = namesIn(read('docs/configuration.md'));
  for (const option of OPTIONS)
    t.ok(configuration.has(envName(option.key)), `${envName(option.key)} documented`);
  const errors = namesIn(read('docs/errors.md'));
  for (const code of Object.keys(ERROR_CATALOGUE)) t.ok(errors.has(code), `${code} documented`);
});

t.test('README lists the common settings, each a real option', async (t) => {
  const readme = namesIn(read('README.md'));
  t.equal(COMMON_SETTINGS.length, 10);
  for (const key of COMMON_SETTINGS) {
    t.ok(
      OPTIONS.some((o) => o.key === key),
      `${key} is an option`,
    );
    t.ok(readme.has(envName(key)), `${envName(key)} in README`);
  }
});

t.test('every SLUICE_ name the docs mention is a real option or error code', async (t) => {
  const known = new Set<string>([
    ...OPTIONS.map((o) => envName(o.key)),
    ...Object.keys(ERROR_CATALOGUE),
    ...Object.values(CLIENT_CODES),
  ]);
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  for (const path of ['README.md', 'client/README.md', ...docs]) {
    for (const name of namesIn(read(path))) {
      if (name.startsWith('SLUICE_ERR_') || /^SLUICE_[A-Z_]+$/.test(name))
        t.ok(known.has(name), `${path}: ${name} is a real option or error code`);
    }
  }
});

t.test("the client's codes are each documented, with their TSDoc, in client/README.md", async (t) => {
  const readme = read('client/README.md');
  const docs = clientCodeDocs();
  for (const [key, code] of Object.entries(CLIENT_CODES)) {
    t.ok(docs.get(key), `CLIENT_CODES.${key} has TSDoc`);
    t.ok(readme.includes(`| \`${code}\` |`), `${code} has a row`);
  }
  // The TSDoc reader sees what the source says, not a fixed list.
  const other = clientCodeDocs(
    "export const CLIENT_CODES = {\n  /** Gone. */\n  gone: 'X',\n  /** Two\n   * lines. */\n  two: 'Y',\n} as const;",
  );
  t.same(
    [...other],
    [
      ['gone', 'Gone.'],
      ['two', 'Two lines.'],
    ],
  );
});
