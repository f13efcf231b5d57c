// Load generator: opens many WebSockets, holds them idle until the harness has measured the broker, then closes them.
import type WebSocket from 'ws';
import { loadMain, progress, waitForParent } from '../lib/load-child.js';
import { openSocket } from '../lib/ws-client.js';

/** Arguments from the harness. */
export interface IdleWsArgs {
  readonly url: string;
  readonly sockets: number;
  /** Upgrades in flight while opening (keeps the listen backlog from overflowing). */
  readonly openConcurrency: number;
}

/** What the generator managed to open. */
export interface IdleWsResult {
  readonly opened: number;
  readonly failed: number;
  readonly closedWhileIdle: number;
  readonly firstError?: string | undefined;
}

async function main(args: IdleWsArgs): Promise<IdleWsResult> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  let closedWhileIdle = 0;
  let firstError: string | undefined;
  let next = 0;
  let holding = true;
  const opener = async (): Promise<void> => {
    while (next < args.sockets) {
      next += 1;
      try {
        const ws = await openSocket(args.url);
        ws.on('close', () => {
          if (holding) closedWhileIdle += 1;
        });
        ws.on('error', () => undefined);
        sockets.push(ws);
      } catch (err) {
        failed += 1;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: args.openConcurrency }, opener));
  progress({ opened: sockets.length, failed, firstError });
  await waitForParent('release');
  holding = false;
  for (const ws of sockets) ws.terminate();
  return { opened: sockets.length, failed, closedWhileIdle, firstError };
}

loadMain(main);
