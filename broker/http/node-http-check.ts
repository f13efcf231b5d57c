// A start-up check that node:http (and node:https) still have the private listeners the fast path and the TLS entry
// take over: node:http's 'connection' listener, node:https's 'secureConnection' one and node:tls's 'connection' one.
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { Socket } from 'node:net';

/** The Node release whose node:http these internals were read from. */
export const NODE_CHECKED_VERSION = 'v20.20.2';

/** Whether the one listener of `event` takes a socket as node:http's own (attaches it and gives it a parser). */
function takesSocketAsHttp(server: Server | HttpsServer, event: 'connection' | 'secureConnection'): string[] {
  const listeners = server.listeners(event);
  if (listeners.length !== 1 || typeof listeners[0] !== 'function')
    return [`a server has ${listeners.length} '${event}' listeners, not node:http's one`];
  const problems: string[] = [];
  const socket = new Socket();
  try {
    (listeners[0] as (this: typeof server, socket: Socket) => void).call(server, socket);
    const taken = socket as Socket & { server?: unknown; parser?: unknown };
    if (taken.server !== server)
      problems.push(`the '${event}' listener does not attach the socket to its server`);
    if (typeof taken.parser !== 'object' || taken.parser === null)
      problems.push(`the '${event}' listener gives the socket no HTTP parser`);
  } catch (error) {
    problems.push(`the '${event}' listener throws on a socket: ${(error as Error).message}`);
  } finally {
    socket.destroy();
  }
  return problems;
}

/**
 * What is missing or behaves differently in this Node's node:http, one line each; empty when nothing is. The fast
 * path (fast-path.ts) removes the listener node:http registers for 'connection' and calls it later for each
 * connection it hands over: a Node release that registered none, several, or one that no longer takes the socket
 * as node:http's own would leave those connections unserved instead of failing at start-up.
 */
export function nodeHttpProblems(make: () => Server = () => createServer()): string[] {
  return takesSocketAsHttp(make(), 'connection');
}

/**
 * The same for an HTTPS listener: node:https registers node:http's listener for 'secureConnection' (the fast path
 * takes it over), and node:tls one listener for 'connection' (the TLS entry, tls-entry.ts, calls it after reading a
 * connection's first bytes).
 */
export function nodeHttpsProblems(make: () => HttpsServer = () => createHttpsServer()): string[] {
  const server = make();
  const tls = server.listeners('connection');
  const problems =
    tls.length === 1 && typeof tls[0] === 'function'
      ? []
      : [`an HTTPS server has ${tls.length} 'connection' listeners, not node:tls's one`];
  return [...problems, ...takesSocketAsHttp(server, 'secureConnection')];
}

/**
 * Throws, naming every problem and the Node versions, when this Node's node:http (and node:https, for a listener
 * with TLS) is not one the fast path can drive.
 */
export function assertNodeHttpCompatible(make?: () => Server, https = false): void {
  const problems = [...nodeHttpProblems(make), ...(https ? nodeHttpsProblems() : [])];
  if (problems.length === 0) return;
  throw new Error(
    `node:http in Node ${process.version} does not work the way Sluice's fast path relies on (checked against ${NODE_CHECKED_VERSION}): ${problems.join('; ')}. Run the Node release package.json's engines names.`,
  );
}
