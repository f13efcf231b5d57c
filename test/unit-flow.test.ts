// The reply-byte bounds of broker/flow.ts: per client, per token (answers unread plus requests still running), the
// first answer teaching a client's reply size, and the hint the pool routes large replies by.
import t from 'tap';
import type { Principal } from '../broker/protocol/auth.js';
import { Flows, LARGE_REPLY_BYTES } from '../broker/exec/flow.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const principal: Principal = {
  name: 't',
  right: 'admin',
  allow: undefined,
  deny: undefined,
  tenant: '',
  quotaKey: 't',
};

t.test(
  'a client with nothing running may always start; a running one is bounded by its expected replies',
  async (t) => {
    let throttles = 0;
    const flows = new Flows(
      { clientMaxPendingBytes: 8 * MiB, tokenMaxPendingBytes: 1024 * MiB },
      () => throttles++,
    );
    const client = flows.client(principal, () => {});
    t.ok(client.mayStart(100 * MiB), 'nothing running: starts even with much unread');
    client.started();
    // reply size unknown: counted as a quarter of the bound each, so four run at most
    client.started();
    client.started();
    t.ok(client.mayStart(0), 'three running of unknown size: a fourth may start');
    client.started();
    t.notOk(client.mayStart(0), 'four running of unknown size: the fifth waits');
    t.notOk(client.mayStart(0), 'still waiting');
    t.equal(throttles, 1, 'a throttle is counted once, when it begins');
    client.answered(100);
    t.ok(client.mayStart(0), 'the first answer was small: its size is now expected');
    t.notOk(client.largeReplies, 'small replies: routed as small');
    client.answered(4 * MiB);
    t.ok(client.largeReplies, 'large replies: routed as large');
    t.notOk(client.mayStart(6 * MiB), 'unread answers count against the bound');
  },
);

t.test('the token bound counts the running requests of all its clients', async (t) => {
  const flows = new Flows({ clientMaxPendingBytes: 64 * MiB, tokenMaxPendingBytes: 16 * MiB });
  let woken = 0;
  const a = flows.client(principal, () => woken++);
  const b = flows.client(principal, () => {});
  // teach both a reply size of 4 MiB
  a.started();
  a.answered(4 * MiB);
  b.started();
  b.answered(4 * MiB);
  a.started();
  a.started();
  b.started();
  b.started();
  t.ok(a.mayStart(0), '4 running × 4 MiB = 16 MiB: at the bound, not over');
  b.started();
  t.notOk(a.mayStart(0), '20 MiB running for the token: a waits although it is under its own bound');
  t.equal(woken, 0);
  b.answered(4 * MiB);
  t.equal(woken, 1, 'woken once the token is back under its bound');
  t.ok(a.mayStart(0));
  b.close();
  t.ok(a.mayStart(0), 'a closed client leaves the count');
});

t.test(
  'unknown reply sizes route as small for a lone HTTP request, as large for a burst or a WebSocket',
  async (t) => {
    const flows = new Flows({ clientMaxPendingBytes: 8 * MiB, tokenMaxPendingBytes: 16 * MiB });
    const http = flows.client(principal, () => {});
    http.started();
    t.notOk(http.largeReplies, 'one request of a new connection: small');
    http.started();
    t.ok(http.largeReplies, 'a pipelined burst before any answer: large');
    const ws = flows.client(principal, () => {}, true);
    ws.started();
    t.ok(ws.largeReplies, 'a WebSocket before any answer: large');
    ws.answered(LARGE_REPLY_BYTES - 1);
    ws.started();
    t.notOk(ws.largeReplies, 'then by its answers');
  },
);
