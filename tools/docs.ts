// Reference tables rendered from the code (options, errors, metrics, client codes) into the docs, so tests can keep
// the docs and the code equal.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { type Config, envName, flagName, type OptionSpec, OPTIONS } from '../broker/config.js';
import { ERROR_CATALOGUE, type ErrorSpec } from '../broker/errors.js';
import { CLIENT_CODES, SluiceError } from '../client/errors.js';
import { metricsTable } from '../metrics/catalogue.js';

/** A generated block of a document sits between `<!-- name:start -->` and `<!-- name:end -->`. */
export interface GeneratedBlock {
  readonly name: string;
  readonly render: () => string;
}

/** A markdown file (relative to the repository root) and the generated blocks it holds. */
export interface GeneratedDocument {
  readonly path: string;
  readonly blocks: readonly GeneratedBlock[];
}

/** The repository root: the nearest folder above this file with a package.json (from tools/ or dist/tools/). */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above tools/docs.ts');
    dir = parent;
  }
  return dir;
}

function unitOf(key: string): string {
  if (key.endsWith('Ms')) return 'ms';
  if (key.endsWith('Bytes')) return 'bytes';
  return '';
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The configuration table: each option with its env name, flag, default, unit and meaning (all by default). */
export function configTable(options: readonly OptionSpec[] = OPTIONS): string {
  const rows = options.map((o) => {
    const shown = o.default === undefined ? 'none' : `\`${String(o.default)}\``;
    return `| \`${envName(o.key)}\` | \`${flagName(o.key)}\` | ${shown} | ${unitOf(o.key)} | ${cell(o.help)} |`;
  });
  return ['| env | flag | default | unit | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The settings most deployments change, in the order README lists them. */
export const COMMON_SETTINGS: readonly (keyof Config)[] = [
  'redisUrl',
  'token',
  'tokensFile',
  'host',
  'port',
  'poolSize',
  'workers',
  'maxInflight',
  'queueTimeoutMs',
  'commandTimeoutMs',
];

/** README's short configuration table: the COMMON_SETTINGS rows of the full one. */
export function commonSettingsTable(): string {
  return configTable(
    COMMON_SETTINGS.map((key) => {
      const option = OPTIONS.find((o) => o.key === key);
      if (option === undefined) throw new Error(`COMMON_SETTINGS names ${key}, which is not an option`);
      return option;
    }),
  );
}

/** The errors table: every catalogue code with its HTTP status, WS close code, retry advice and meaning. */
export function errorsTable(): string {
  const rows = Object.entries(ERROR_CATALOGUE).map(([code, spec]: [string, ErrorSpec]) => {
    const close = spec.wsClose === undefined ? '' : String(spec.wsClose);
    return `| \`${code}\` | ${spec.status} | ${close} | ${spec.retryable ? 'yes' : 'no'} | ${cell(spec.meaning)} |`;
  });
  return ['| code | HTTP | WS close | retry helps | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/**
 * The TSDoc of each CLIENT_CODES entry, by key, read from client/errors.ts: the client carries no descriptions at
 * run time (its size is budgeted), so its source is where the meanings live.
 */
export function clientCodeDocs(source = readFileSync(join(repositoryRoot(), 'client/errors.ts'), 'utf8')) {
  const file = ts.createSourceFile('errors.ts', source, ts.ScriptTarget.ES2022, true);
  const docs = new Map<string, string>();
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === 'CLIENT_CODES' &&
      node.initializer !== undefined
    ) {
      const literal = ts.isAsExpression(node.initializer) ? node.initializer.expression : node.initializer;
      if (ts.isObjectLiteralExpression(literal)) {
        for (const property of literal.properties) {
          const comment = ts
            .getJSDocCommentsAndTags(property)
            .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? '')
            .join(' ');
          if (property.name !== undefined && ts.isIdentifier(property.name))
            docs.set(property.name.text, comment.replace(/\s+/g, ' ').trim());
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return docs;
}

/** The client's own error codes (CLIENT_CODES, with their TSDoc), and the two families of codes it passes on. */
export function clientErrorsTable(): string {
  const docs = clientCodeDocs();
  const rows = Object.entries(CLIENT_CODES).map(([key, code]) => {
    const meaning = docs.get(key);
    if (!meaning) throw new Error(`CLIENT_CODES.${key} has no TSDoc in client/errors.ts`);
    const retryable = new SluiceError('', code).retryable;
    return `| \`${code}\` | ${retryable ? 'yes' : 'no'} | ${cell(meaning)} |`;
  });
  return [
    '| code | retryable | meaning |',
    '|---|---|---|',
    ...rows,
    '| `SLUICE_ERR_*` | as the broker says | A broker catalogue code, passed on with its HTTP status ([docs/errors.md](../docs/errors.md)). |',
    "| `HTTP_<status>` | for `HTTP_503` | An error status without a code, from a server that is not Sluice (e.g. Upstash's 401). |",
  ].join('\n');
}

const block = (name: string, render: () => string): GeneratedBlock => ({ name, render });

/** Every document with generated blocks; `npm run docs` rewrites them and test/docs-sync.test.ts checks them. */
export const GENERATED_DOCUMENTS: readonly GeneratedDocument[] = [
  { path: 'README.md', blocks: [block('common-settings', commonSettingsTable)] },
  { path: 'docs/configuration.md', blocks: [block('config-table', configTable)] },
  { path: 'docs/errors.md', blocks: [block('errors-table', errorsTable)] },
  { path: 'docs/metrics.md', blocks: [block('metrics-table', () => metricsTable().join('\n'))] },
  { path: 'client/README.md', blocks: [block('client-errors-table', clientErrorsTable)] },
];

/** A document's text with each of its generated blocks replaced by the current rendering. */
export function renderDocument(text: string, document: GeneratedDocument): string {
  let out = text;
  for (const { name, render } of document.blocks) {
    const start = `<!-- ${name}:start -->`;
    const end = `<!-- ${name}:end -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from === -1 || to === -1 || to < from)
      throw new Error(`${document.path} lacks the ${start} … ${end} markers`);
    out = out.slice(0, from + start.length) + '\n' + render() + '\n' + out.slice(to);
  }
  return out;
}
