// README's generated tables (configuration, errors) must equal what the code renders, both ways.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { envName, OPTIONS } from '../broker/config.js';
import { GENERATED_BLOCKS, renderReadme } from '../tools/docs.js';
import { ERROR_CATALOGUE } from '../broker/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('generated README blocks are current (run `npm run docs` to update)', async (t) => {
  t.equal(renderReadme(readme, GENERATED_BLOCKS), readme);
});

t.test('every option and every error code appears in README, and nothing else does', async (t) => {
  const documentedEnv = new Set([...readme.matchAll(/`(SLUICE_[A-Z0-9_]+)`/g)].map((m) => m[1]));
  for (const option of OPTIONS)
    t.ok(documentedEnv.has(envName(option.key)), `${envName(option.key)} documented`);
  const codes = new Set(Object.keys(ERROR_CATALOGUE));
  for (const code of codes) t.ok(documentedEnv.has(code), `${code} documented`);
  const known = new Set([...OPTIONS.map((o) => envName(o.key)), ...codes]);
  for (const name of documentedEnv) {
    if (
      name?.startsWith('SLUICE_ERR_') ||
      (name && /^SLUICE_[A-Z_]+$/.test(name) && !name.startsWith('SLUICE_ERR'))
    ) {
      t.ok(known.has(name!), `${name} in README is a real option or error code`);
    }
  }
});
