// Method names → command words, and the Proxy that makes a method per command.

import t from 'tap';
import { commandWords, withCommands } from '../client/proxy.js';

t.test('commandWords', async (t) => {
  const table: Array<[string, string[]]> = [
    ['get', ['GET']],
    ['hset', ['HSET']],
    ['GET', ['GET']],
    ['scriptLoad', ['SCRIPT', 'LOAD']],
    ['clientNoEvict', ['CLIENT', 'NO', 'EVICT']],
    ['eval_ro', ['EVAL_RO']],
    ['JSON.SET', ['JSON.SET']],
    ['xinfoStream', ['XINFO', 'STREAM']],
    ['zrangebyscore', ['ZRANGEBYSCORE']],
  ];
  for (const [method, want] of table) t.same(commandWords(method), want, method);
});

t.test('withCommands keeps own members, binds them, and is not thenable', async (t) => {
  class Target {
    #secret = 42;
    own(): number {
      return this.#secret;
    }
  }
  const calls: unknown[] = [];
  const p = withCommands(new Target(), (words, args) => calls.push([words, args])) as Target &
    Record<string, (...a: unknown[]) => unknown>;
  t.equal(p.own(), 42, '#private works through the proxy');
  p['hgetall']!('h');
  p['configGet']!('maxmemory');
  t.same(calls, [
    [['HGETALL'], ['h']],
    [['CONFIG', 'GET'], ['maxmemory']],
  ]);
  t.equal((p as { then?: unknown }).then, undefined);
  t.equal(await Promise.resolve(p), p, 'awaiting the proxy gives the proxy');
});
