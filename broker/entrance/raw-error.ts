// Answering on a bare socket, where there is no ServerResponse: refused upgrades and CONNECTs, malformed requests.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { SluiceError } from '../errors.js';
import { errorBody } from '../protocol/items.js';

/**
 * Writes a JSON error straight to a socket that has no ServerResponse (client errors, refused upgrades), then
 * closes it. `extraHead`: more header lines, each ending in CRLF.
 */
export function writeRawError(socket: Duplex, error: SluiceError, syncToken: string, extraHead = ''): void {
  const body = errorBody(error);
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nupstash-sync-token: ${syncToken}\r\n${extraHead}` +
      `Connection: close\r\n\r\n${body}`,
  );
}
