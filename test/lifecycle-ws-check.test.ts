// The start-up check of the ws internal WsConnection relies on (reader errors heard first on `_receiver`): the
// installed ws passes it, and a changed receiver is named, with the ws versions, before a close reason could be lost.
import type { EventEmitter } from 'node:events';
import t from 'tap';
import { WebSocket } from 'ws';
import { assertWsCompatible, WS_CHECKED_VERSION, wsProblems } from '../broker/ws/ws-check.js';
import { startRefusal } from './helpers/broker.js';

type SetSocket = (this: { _receiver: EventEmitter }, ...args: unknown[]) => void;
const proto = WebSocket.prototype as unknown as { setSocket: SetSocket };

/** Runs `body` with ws's receiver emitting its errors without their WS_ERR_* code, then puts setSocket back. */
async function withCodelessErrors<T>(body: () => Promise<T>): Promise<T> {
  const original = proto.setSocket;
  proto.setSocket = function (this: { _receiver: EventEmitter }, ...args: unknown[]) {
    original.apply(this, args);
    const receiver = this._receiver;
    const emit = receiver.emit;
    receiver.emit = function (name: string | symbol, ...rest: unknown[]) {
      if (name === 'error') delete (rest[0] as { code?: string }).code;
      return emit.call(this, name, ...rest);
    };
  };
  try {
    return await body();
  } finally {
    proto.setSocket = original;
  }
}

t.test('the installed ws reports reader errors on _receiver before it closes', async (t) => {
  t.same(await wsProblems(), []);
  await t.resolves(assertWsCompatible());
});

t.test('a reader error without its code is named', async (t) => {
  t.same(await withCodelessErrors(() => wsProblems()), [
    'a receiver error carries the code undefined, not a WS_ERR_* code',
  ]);
  t.same(await wsProblems(), [], 'put back');
});

t.test('startBroker refuses to start, naming the problem and the versions', async (t) => {
  const error = await withCodelessErrors(startRefusal);
  t.ok(error, 'rejected');
  t.match(error?.message, /^ws \d+\.\d+\.\d+ does not work the way Sluice relies on/);
  t.match(error?.message, `checked against ${WS_CHECKED_VERSION}`);
  t.match(error?.message, 'not a WS_ERR_* code');
  t.match(error?.message, 'npm ci');
});
