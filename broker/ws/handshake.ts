// The WebSocket opening handshake (RFC 6455 §4.2): checking the client's upgrade request and the 101 that accepts it.
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { UpgradeHeaders } from '../http/server.js';
import { listsUpgrade } from '../http/wire.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** §4.1: the key is 16 random bytes in base64. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** §4.1: a subprotocol name is an RFC 2616 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/**
 * The 101 response accepting an upgrade request, or the error refusing it. A request listing subprotocols gets the
 * first one back, as `ws` answered before: the broker speaks one protocol whatever its name, and a browser whose
 * `new WebSocket(url, ['…'])` got no subprotocol back would fail the connection. No extension is ever accepted.
 */
export function acceptUpgrade(method: string, headers: UpgradeHeaders): string | SluiceError {
  const bad = (message: string): SluiceError =>
    new SluiceError('SLUICE_ERR_HTTP_BAD_HEADER', `ERR ${message}`);
  if (method !== 'GET')
    return new SluiceError('SLUICE_ERR_HTTP_METHOD', `ERR a WebSocket upgrade must be a GET, not ${method}`);
  if (single(headers['upgrade'])?.toLowerCase() !== 'websocket') return bad('expected Upgrade: websocket');
  if (!listsUpgrade(single(headers['connection'])?.toLowerCase())) return bad('expected Connection: Upgrade');
  const version = single(headers['sec-websocket-version']);
  if (version !== '13')
    return bad(`expected Sec-WebSocket-Version: 13, got ${JSON.stringify(version ?? null)}`);
  const key = single(headers['sec-websocket-key'])?.trim();
  if (key === undefined || !KEY.test(key)) return bad('expected Sec-WebSocket-Key: 16 bytes in base64');
  const accept = createHash('sha1')
    .update(key + GUID)
    .digest('base64');
  let response = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n`;
  const protocols = single(headers['sec-websocket-protocol']);
  if (protocols !== undefined) {
    const first = protocols.split(',')[0]!.trim();
    if (!TOKEN.test(first)) return bad('expected Sec-WebSocket-Protocol: a comma-separated list of tokens');
    response += `Sec-WebSocket-Protocol: ${first}\r\n`;
  }
  return `${response}\r\n`;
}
