// Sync tokens and replication state, as tables: signing, verifying, tampering, floors; ROLE / INFO parsing; the
// primary's offset history; the replica watcher on a ManualClock (issue 20). No Redis.
import t from 'tap';
import type { Principal } from '../broker/protocol/auth.js';
import { SyncTokens } from '../broker/protocol/sync-token.js';
import {
  holds,
  laterPosition,
  parseReplicationInfo,
  roleOffset,
  type SyncPosition,
} from '../broker/redis/replication.js';
import { PrimaryPosition } from '../broker/redis/primary-position.js';
import { ManualClock } from './helpers/manual-clock.js';

const REPLID = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const at = (offset: number, replid = REPLID): SyncPosition => ({ replid, offset });
const tokens = (secret = 'secret', perTokenFloor = true) =>
  new SyncTokens({ secret, positions: true, perTokenFloor });
const alice = { name: 'alice', tenant: '' } as unknown as Principal;
const bob = { name: 'bob', tenant: '' } as unknown as Principal;

t.test('a token carries its position, verifies, and differs on every response', async (t) => {
  const sync = tokens();
  const first = sync.issue(at(1234));
  const second = sync.issue(at(1234));
  t.not(first, second, 'a new value each time, same position');
  t.match(first, /^s1\.a{40}\.1234\.[A-Za-z0-9_-]{22}\.[0-9a-f]{12}-[0-9a-z]+$/);
  t.same(sync.read(first), { position: at(1234) });
  t.same(sync.read(second), { position: at(1234) });
  // Another process of the same deployment (same secret) reads it; its own tokens differ from this one's.
  const other = tokens();
  t.same(other.read(first), { position: at(1234) });
  t.not(other.issue(at(1234)), first);
});

t.test(
  'tokens without a position, absent or empty are tokenless; anything else unverified is bad',
  async (t) => {
    const sync = tokens();
    const bare = sync.issue();
    t.match(bare, /^[0-9a-f]{12}-[0-9a-z]+$/, 'no position: the bare nonce, as before read regions');
    t.equal(sync.read(bare), 'none');
    t.equal(sync.read(undefined), 'none');
    t.equal(sync.read(''), 'none');
    const good = sync.issue(at(99));
    const [v, replid, offset, mac, nonce] = good.split('.') as [string, string, string, string, string];
    const cases: [string, string | string[]][] = [
      ['truncated', good.slice(0, good.length - nonce.length - 3)],
      ['offset raised', [v, replid, '9999999999', mac, nonce].join('.')],
      ['other replid', [v, OTHER, offset, mac, nonce].join('.')],
      [
        'mac flipped',
        [v, replid, offset, `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, nonce].join('.'),
      ],
      ['another secret', tokens('another').issue(at(99))],
      ['leading zero', [v, replid, `0${offset}`, mac, nonce].join('.')],
      ['garbage', 'hello world'],
      ['huge', `s1.${'x'.repeat(500)}`],
      ['repeated header', [good, good]],
      ['upper-case replid', [v, replid.toUpperCase(), offset, mac, nonce].join('.')],
    ];
    for (const [what, value] of cases) t.equal(sync.read(value), 'bad', what);
    t.same(sync.read(good), { position: at(99) }, 'the untouched token still verifies');
  },
);

t.test('a broker without positions issues bare nonces and reads nothing', async (t) => {
  const sync = new SyncTokens({ secret: 's', positions: false, perTokenFloor: true });
  t.match(sync.issue(at(5)), /^[0-9a-f]{12}-[0-9a-z]+$/);
  t.equal(sync.begin(tokens('s').issue(at(5)), alice), undefined, 'nothing to route on');
});

t.test('begin/end: the floor is the later of the token and the auth token’s newest write', async (t) => {
  const sync = tokens();
  const write = sync.begin('', alice)!;
  t.same(write, { floor: undefined, badToken: false, carried: false, result: undefined });
  write.result = at(500);
  t.same(sync.end(write, alice), at(500), 'a write leaves its caller at its position');
  // A client that sends no token (or a stale one) still reads its token's writes.
  t.same(sync.begin('', alice)!.floor, at(500));
  t.same(sync.begin(sync.issue(at(100)), alice)!.floor, at(500), 'stale token: the newer floor wins');
  t.same(sync.begin(sync.issue(at(900)), alice)!.floor, at(900));
  t.equal(sync.begin('', bob)!.floor, undefined, 'per auth token');
  const bad = sync.begin('s1.nope', bob)!;
  t.equal(bad.badToken, true);
  t.equal(bad.floor, undefined);
  const read = sync.begin(sync.issue(at(700)), bob)!;
  t.same(sync.end(read, bob), at(700), 'a read keeps its caller where it was');
  t.equal(sync.begin('', bob)!.floor, undefined, 'a read does not raise the floor');
  const off = tokens('secret', false);
  const w = off.begin('', alice)!;
  w.result = at(5);
  off.end(w, alice);
  t.equal(off.begin('', alice)!.floor, undefined, 'SLUICE_SYNC_PER_TOKEN_FLOOR=false');
});

t.test('laterPosition and holds', async (t) => {
  t.same(laterPosition(at(1), at(2)), at(2));
  t.same(laterPosition(at(3), at(2)), at(3));
  t.same(laterPosition(undefined, at(2)), at(2));
  t.same(laterPosition(at(2), undefined), at(2));
  t.same(laterPosition(at(9), at(2, OTHER)), at(2, OTHER), 'another history: the newer claim');
  const replica = {
    role: 'slave',
    replid: REPLID,
    replid2: OTHER,
    secondOffset: 100,
    offset: 150,
    linkUp: true,
  } as const;
  t.equal(holds(replica, at(150)), 'yes');
  t.equal(holds(replica, at(151)), 'not_yet');
  t.equal(holds(replica, at(99, OTHER)), 'yes', 'the previous history, below second_repl_offset');
  t.equal(holds(replica, at(100, OTHER)), 'never', 'past where the previous history ended');
  t.equal(holds(replica, at(1, 'c'.repeat(40))), 'never', 'an unknown history');
});

t.test('ROLE and INFO replication replies', async (t) => {
  t.equal(
    roleOffset([Buffer.from('master'), '3129659', [[Buffer.from('127.0.0.1'), '9001', '3129242']]]),
    3129659,
  );
  t.equal(roleOffset(['master', 0, []]), 0);
  t.equal(roleOffset([Buffer.from('slave'), '127.0.0.1', '9000', 'connected', '3167038']), undefined);
  t.equal(roleOffset('nonsense'), undefined);
  const replica = parseReplicationInfo(
    [
      '# Replication',
      'role:slave',
      'master_host:127.0.0.1',
      'master_link_status:up',
      'slave_read_repl_offset:220',
      'slave_repl_offset:210',
      `master_replid:${REPLID}`,
      `master_replid2:${OTHER}`,
      'master_repl_offset:220',
      'second_repl_offset:57',
      '',
    ].join('\r\n'),
  );
  t.same(replica, {
    role: 'slave',
    replid: REPLID,
    replid2: OTHER,
    secondOffset: 57,
    offset: 210,
    linkUp: true,
  });
  const primary = parseReplicationInfo(
    Buffer.from(
      `# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_replid:${REPLID}\r\nmaster_replid2:${'0'.repeat(40)}\r\nmaster_repl_offset:42\r\nsecond_repl_offset:-1\r\n`,
    ),
  );
  t.equal(primary?.role, 'master');
  t.equal(primary?.offset, 42);
  t.equal(primary?.linkUp, true);
  const down = parseReplicationInfo(
    `role:slave\r\nmaster_link_status:down\r\nslave_repl_offset:5\r\nmaster_replid:${REPLID}\r\nmaster_repl_offset:5\r\n`,
  );
  t.equal(down?.linkUp, false);
  t.equal(parseReplicationInfo('ERR nope'), undefined);
});

t.test('PrimaryPosition estimates how many seconds behind an offset is', async (t) => {
  const clock = new ManualClock();
  const position = new PrimaryPosition(clock, 25);
  t.equal(position.at(5), undefined, 'no position before the replication ID is known');
  position.readReplid(REPLID, 100);
  t.same(position.at(5), at(5));
  clock.advance(1000);
  position.noted(200);
  clock.advance(500);
  position.noted(300);
  clock.advance(250);
  t.equal(position.secondsBehind(300), 0, 'holds everything seen');
  t.equal(position.secondsBehind(250), 0.25, 'behind since the primary reported 300');
  t.equal(position.secondsBehind(150), 0.75, 'behind since it reported 200');
  t.equal(position.secondsBehind(50), 1.75, 'older than every sample: at least the window');
  t.equal(position.secondsBehindAtMost(300), 0);
  t.equal(position.secondsBehindAtMost(250), 0.75, 'the primary was at 200 at most 0.75 s ago');
  t.equal(position.secondsBehindAtMost(200), 0.75);
  t.equal(position.secondsBehindAtMost(150), 1.75, 'at 100, 1.75 s ago');
  t.equal(
    position.secondsBehindAtMost(50),
    Number.POSITIVE_INFINITY,
    'behind every sample: unknown, so not fresh',
  );
  position.noted(250);
  t.equal(position.maxOffset, 300, 'offsets never go back');
  position.readReplid(OTHER, 7);
  t.equal(position.maxOffset, 7, 'another history starts over');
  t.equal(position.secondsBehind(0), 0);
});
