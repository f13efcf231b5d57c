// `npm run docs`: rewrites the generated tables of README.md, docs/ and client/README.md from the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED_DOCUMENTS, renderDocument, repositoryRoot } from './docs.js';

const root = repositoryRoot();
for (const document of GENERATED_DOCUMENTS) {
  const path = join(root, document.path);
  writeFileSync(path, renderDocument(readFileSync(path, 'utf8'), document));
  process.stdout.write(`${document.path}: tables updated\n`);
}
