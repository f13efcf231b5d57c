// SluiceError codes and retry advice; kept in step with the broker's catalogue when it is present.

import { existsSync } from 'node:fs';
import t from 'tap';
import { CLIENT_CODES, SluiceError, replyError } from '../client/errors.js';

t.test('replyError codes', async (t) => {
  const table: Array<[[string, string | undefined, number | undefined], string, boolean]> = [
    [['WRONGTYPE Operation', undefined, undefined], 'REDIS_ERR', false],
    [['ERR x', undefined, 400], 'REDIS_ERR', false],
    [['ERR x', 'SLUICE_ERR_REDIS', 400], 'REDIS_ERR', false],
    [['full', 'SLUICE_ERR_QUEUE_FULL', 503], 'SLUICE_ERR_QUEUE_FULL', true],
    [['late', 'SLUICE_ERR_DEADLINE_EXPIRED', 504], 'SLUICE_ERR_DEADLINE_EXPIRED', true],
    [['late', 'SLUICE_ERR_REDIS_TIMEOUT', 504], 'SLUICE_ERR_REDIS_TIMEOUT', false],
    [['Unauthorized', undefined, 401], 'HTTP_401', false],
    [['busy', undefined, 503], 'HTTP_503', true],
  ];
  for (const [[message, code, status], wantCode, wantRetryable] of table) {
    const e = replyError(message, code, status);
    t.ok(e instanceof SluiceError && e instanceof Error);
    t.equal(e.code, wantCode, `${message} code`);
    t.equal(e.retryable, wantRetryable, `${message} retryable`);
    t.equal(e.status, status);
    t.equal(e.message, message);
  }
  t.equal(new SluiceError('x', CLIENT_CODES.connect).retryable, true);
  t.equal(new SluiceError('x', CLIENT_CODES.network).retryable, false);
});

const catalogue = new URL('../broker/errors.ts', import.meta.url);
t.test(
  'retryable matches the broker catalogue',
  { skip: !existsSync(catalogue) && 'broker/errors.ts not here yet' },
  async (t) => {
    const { ERROR_CATALOGUE } = (await import(catalogue.href)) as {
      ERROR_CATALOGUE: Record<string, { retryable: boolean }>;
    };
    for (const [code, spec] of Object.entries(ERROR_CATALOGUE)) {
      if (code === 'SLUICE_ERR_REDIS') continue;
      t.equal(new SluiceError('x', code).retryable, spec.retryable, code);
    }
  },
);
