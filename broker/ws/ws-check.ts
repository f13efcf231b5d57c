// A start-up check that the installed ws still reports reader errors through the private `_receiver` ws-socket.ts uses.
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { WebSocket } from 'ws';

/** The ws release these internals were read from (package-lock.json installs it). */
export const WS_CHECKED_VERSION = '8.23.0';

function installedVersion(): string {
  try {
    return (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** A server-side WebSocket over an in-memory stream, as ws's handleUpgrade would set it up. */
function probeSocket(): WebSocket {
  const ws = new WebSocket(null as unknown as string, undefined, {}) as WebSocket & {
    setSocket?: (socket: PassThrough, head: Buffer, options: { maxPayload: number }) => void;
  };
  if (typeof ws.setSocket !== 'function') throw new Error('WebSocket#setSocket is not a function');
  ws.setSocket(new PassThrough(), Buffer.alloc(0), { maxPayload: 1024 });
  ws.on('error', () => {});
  return ws;
}

/**
 * What is missing or behaves differently in the installed ws, one line each; empty when nothing is. ws closes a
 * socket whose frames break the protocol with the close code alone; WsConnection learns the error first from a
 * listener prepended on ws's Receiver (`_receiver`), and closes with a reason naming the catalogue code. A ws release
 * that moved the Receiver, or closed before emitting, would lose those reasons instead of failing at start-up.
 */
export async function wsProblems(): Promise<string[]> {
  let ws: WebSocket;
  try {
    ws = probeSocket();
  } catch (error) {
    return [`a WebSocket cannot be set up over a stream: ${(error as Error).message}`];
  }
  try {
    const receiver = (ws as unknown as { _receiver?: EventEmitter })._receiver;
    if (typeof receiver?.prependListener !== 'function' || !('write' in receiver))
      return ['WebSocket#_receiver is not a writable EventEmitter'];
    const seen = new Promise<{ code: unknown; open: boolean }>((resolve) => {
      receiver.prependListener('error', (error: Error & { code?: unknown }) =>
        resolve({ code: error.code, open: ws.readyState === WebSocket.OPEN }),
      );
    });
    // A client frame without a mask (RFC 6455 §5.1): a protocol error for a server's receiver.
    (receiver as unknown as { write(chunk: Buffer): void }).write(Buffer.from([0x81, 0x00]));
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref());
    const heard = await Promise.race([seen, timeout]);
    if (heard === undefined) return ["the receiver emitted no 'error' for an unmasked client frame"];
    const problems: string[] = [];
    if (typeof heard.code !== 'string' || !heard.code.startsWith('WS_ERR_'))
      problems.push(`a receiver error carries the code ${JSON.stringify(heard.code)}, not a WS_ERR_* code`);
    if (!heard.open) problems.push('ws closed the socket before its receiver emitted the error');
    return problems;
  } finally {
    ws.terminate();
  }
}

/** Rejects, naming every problem and the ws versions, when the installed ws is not one Sluice can drive. */
export async function assertWsCompatible(): Promise<void> {
  const problems = await wsProblems();
  if (problems.length === 0) return;
  throw new Error(
    `ws ${installedVersion()} does not work the way Sluice relies on (checked against ${WS_CHECKED_VERSION}): ${problems.join('; ')}. Install the version package-lock.json names (npm ci).`,
  );
}
