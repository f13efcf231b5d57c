// What an upgrade request is to the entrance and to the WebSocket endpoint it admits callers to.
import type { Socket } from 'node:net';
import type { AdmittedUpgrade } from './entrance.js';

/** Request headers by lower-case name, as node:http and the fast path's reader both give them. */
export type UpgradeHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * What a WebSocket server reads of an upgrade request: node:http's IncomingMessage has these, and the fast path
 * builds just these from the request it already parsed.
 */
export interface UpgradeRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: UpgradeHeaders;
}

/** Accepts WebSocket upgrades on /ws as the entrance admitted them (caller, query); provided by the WebSocket module. */
export interface UpgradeHandler {
  handleUpgrade(request: UpgradeRequest, socket: Socket, head: Buffer, admitted: AdmittedUpgrade): void;
}

/** Whether a lower-cased Connection value lists the upgrade option (`Upgrade`, `keep-alive, Upgrade`). */
export function listsUpgrade(connection: string | undefined): boolean {
  if (connection === undefined) return false;
  if (connection === 'upgrade') return true;
  for (const option of connection.split(',')) if (option.trim() === 'upgrade') return true;
  return false;
}
