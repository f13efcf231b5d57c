// `npm run docs`: rewrites README.md's generated tables from the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderReadme } from './docs.js';

const path = new URL('../../README.md', import.meta.url);
writeFileSync(path, renderReadme(readFileSync(path, 'utf8')));
process.stdout.write('README.md tables updated\n');
