// README tables rendered from the code (options, errors), so a test can keep README and code equal.
import { envName, flagName, OPTIONS } from '../broker/config.js';
import { ERROR_CATALOGUE, type ErrorSpec } from '../broker/errors.js';
import { metricsTable } from '../metrics/catalogue.js';

/** A generated block of README.md sits between `<!-- name:start -->` and `<!-- name:end -->`. */
export interface GeneratedBlock {
  readonly name: string;
  readonly render: () => string;
}

function unitOf(key: string): string {
  if (key.endsWith('Ms')) return 'ms';
  if (key.endsWith('Bytes')) return 'bytes';
  return '';
}

/** The configuration table: every option with its env name, flag, default, unit and meaning. */
export function configTable(): string {
  const rows = OPTIONS.map((o) => {
    const shown = o.default === undefined ? 'none' : `\`${String(o.default)}\``;
    return `| \`${envName(o.key)}\` | \`${flagName(o.key)}\` | ${shown} | ${unitOf(o.key)} | ${o.help.replace(/\|/g, '\\|')} |`;
  });
  return ['| env | flag | default | unit | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The errors table: every catalogue code with its HTTP status, WS close code, retry advice and meaning. */
export function errorsTable(): string {
  const rows = Object.entries(ERROR_CATALOGUE).map(([code, spec]: [string, ErrorSpec]) => {
    const close = spec.wsClose === undefined ? '' : String(spec.wsClose);
    return `| \`${code}\` | ${spec.status} | ${close} | ${spec.retryable ? 'yes' : 'no'} | ${spec.meaning.replace(/\|/g, '\\|')} |`;
  });
  return ['| code | HTTP | WS close | retry helps | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

export const GENERATED_BLOCKS: readonly GeneratedBlock[] = [
  { name: 'config-table', render: configTable },
  { name: 'errors-table', render: errorsTable },
  { name: 'metrics-table', render: () => metricsTable().join('\n') },
];

/** README text with every generated block replaced by its current rendering. */
export function renderReadme(readme: string, blocks: readonly GeneratedBlock[] = GENERATED_BLOCKS): string {
  let out = readme;
  for (const block of blocks) {
    const start = `<!-- ${block.name}:start -->`;
    const end = `<!-- ${block.name}:end -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from === -1 || to === -1 || to < from)
      throw new Error(`README.md lacks the ${start} … ${end} markers`);
    out = out.slice(0, from + start.length) + '\n' + block.render() + '\n' + out.slice(to);
  }
  return out;
}
