// The start-up check of the node:http internal the fast path relies on (its 'connection' listener): this Node passes
// it, and a missing or changed listener is named, with the Node versions, before a connection could go unserved.
import t from 'tap';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  assertNodeHttpCompatible,
  NODE_CHECKED_VERSION,
  nodeHttpProblems,
  nodeHttpsProblems,
} from '../broker/http/node-http-check.js';

t.test("this Node's node:http has the connection listener the fast path replays", async (t) => {
  t.same(nodeHttpProblems(), []);
  t.doesNotThrow(() => assertNodeHttpCompatible());
});

t.test('a server without the listener, or with two, is named', async (t) => {
  const none = () => {
    const server = createServer();
    server.removeAllListeners('connection');
    return server;
  };
  t.same(nodeHttpProblems(none), ["a server has 0 'connection' listeners, not node:http's one"]);
  const two = () => createServer().on('connection', () => {});
  t.same(nodeHttpProblems(two), ["a server has 2 'connection' listeners, not node:http's one"]);
});

t.test('a listener that does not take the socket as node:http would is caught', async (t) => {
  const other = () => {
    const server = createServer();
    server.removeAllListeners('connection');
    return server.on('connection', () => {});
  };
  t.same(nodeHttpProblems(other), [
    "the 'connection' listener does not attach the socket to its server",
    "the 'connection' listener gives the socket no HTTP parser",
  ]);
  const throwing = () => {
    const server = createServer();
    server.removeAllListeners('connection');
    return server.on('connection', () => {
      throw new Error('changed');
    });
  };
  t.same(nodeHttpProblems(throwing), ["the 'connection' listener throws on a socket: changed"]);
});

t.test('the refusal names the problem and both Node versions', async (t) => {
  const none = () => createServer().removeAllListeners('connection');
  const error = t.throws(() => assertNodeHttpCompatible(none)) as Error;
  t.match(error.message, `node:http in Node ${process.version} does not work`);
  t.match(error.message, `checked against ${NODE_CHECKED_VERSION}`);
  t.match(error.message, "a server has 0 'connection' listeners");
});

t.test("this Node's node:https has the listeners the fast path and the TLS entry take over", async (t) => {
  t.same(nodeHttpsProblems(), []);
  t.doesNotThrow(() => assertNodeHttpCompatible(undefined, true));
  const noTls = () => createHttpsServer().removeAllListeners('connection');
  t.same(nodeHttpsProblems(noTls), ["an HTTPS server has 0 'connection' listeners, not node:tls's one"]);
  const noHttp = () => createHttpsServer().removeAllListeners('secureConnection');
  t.same(nodeHttpsProblems(noHttp), ["a server has 0 'secureConnection' listeners, not node:http's one"]);
});
