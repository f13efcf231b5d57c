// A start-up check that node:http still has the private 'connection' listener the fast path hands connections to.
import { createServer, type Server } from 'node:http';
import { Socket } from 'node:net';

/** The Node release whose node:http these internals were read from. */
export const NODE_CHECKED_VERSION = 'v20.20.2';

/**
 * What is missing or behaves differently in this Node's node:http, one line each; empty when nothing is. The fast
 * path (fast-path.ts) removes the listener node:http registers for 'connection' and calls it later for each
 * connection it hands over: a Node release that registered none, several, or one that no longer takes the socket
 * as node:http's own would leave those connections unserved instead of failing at start-up.
 */
export function nodeHttpProblems(make: () => Server = () => createServer()): string[] {
  const server = make();
  const listeners = server.listeners('connection');
  if (listeners.length !== 1 || typeof listeners[0] !== 'function')
    return [`a server has ${listeners.length} 'connection' listeners, not node:http's one`];
  const problems: string[] = [];
  const socket = new Socket();
  try {
    (listeners[0] as (this: Server, socket: Socket) => void).call(server, socket);
    const taken = socket as Socket & { server?: unknown; parser?: unknown };
    if (taken.server !== server)
      problems.push("the 'connection' listener does not attach the socket to its server");
    if (typeof taken.parser !== 'object' || taken.parser === null)
      problems.push("the 'connection' listener gives the socket no HTTP parser");
  } catch (error) {
    problems.push(`the 'connection' listener throws on a socket: ${(error as Error).message}`);
  } finally {
    socket.destroy();
  }
  return problems;
}

/** Throws, naming every problem and the Node versions, when this Node's node:http is not one the fast path can drive. */
export function assertNodeHttpCompatible(make?: () => Server): void {
  const problems = nodeHttpProblems(make);
  if (problems.length === 0) return;
  throw new Error(
    `node:http in Node ${process.version} does not work the way Sluice's fast path relies on (checked against ${NODE_CHECKED_VERSION}): ${problems.join('; ')}. Run the Node release package.json's engines names.`,
  );
}
