// Unit tests of the Upstash emulations (COPY k k, SCAN … WITHTYPE): which argument lists are rewritten, and how.
import t from 'tap';
import { emulate } from '../broker/protocol/emulate.js';

t.test('COPY with the same source and destination answers 0 without touching Redis data', async (t) => {
  t.same(emulate('copy', ['k', 'k']), { wireName: 'EVAL_RO', args: ['return 0', '0'] });
  t.same(emulate('copy', ['k', Buffer.from('k'), 'replace'])?.wireName, 'EVAL_RO');
  t.equal(emulate('copy', ['k', 'j']), undefined);
  // With DB the same name in another database is a real copy.
  t.equal(emulate('copy', ['k', 'k', 'DB', '1']), undefined);
  t.equal(emulate('copy', ['k']), undefined);
});

t.test('SCAN WITHTYPE becomes one read-only script; other SCANs pass through', async (t) => {
  const rewritten = emulate('scan', ['0', 'MATCH', 'a*', 'withtype', 'COUNT', '5']);
  t.equal(rewritten?.wireName, 'EVAL_RO');
  t.same(rewritten?.args.slice(1), ['0', '0', 'MATCH', 'a*', 'COUNT', '5']);
  t.equal(emulate('scan', ['0', 'MATCH', 'withtype']), undefined, 'a pattern named withtype is not the flag');
  t.same(emulate('scan', ['0', 'MATCH', 'withtype', 'WITHTYPE'])?.args.slice(1), [
    '0',
    '0',
    'MATCH',
    'withtype',
  ]);
  t.equal(emulate('scan', ['0', 'TYPE', 'string']), undefined);
  t.equal(emulate('get', ['k']), undefined);
});
