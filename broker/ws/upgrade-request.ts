// The refusals of a WebSocket upgrade request that are ours to word (JSON, catalogue codes), decided before `ws` sees it.
import { SluiceError } from '../errors.js';
import { listsUpgrade, type UpgradeHeaders } from '../entrance/upgrade.js';

/** RFC 6455 §4.1: the key is 16 random bytes in base64 (the test `ws`'s handleUpgrade applies too). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/**
 * Why an upgrade request must be refused, or undefined when `ws` may complete it. It checks what `ws`'s
 * handleUpgrade would refuse with a plain-text answer (method, Upgrade, key, version), so that the refusal is a JSON
 * error saying what was expected; it also asks for `Connection: Upgrade`, and for version 13 only (ws also takes
 * the draft version 8). What ws checks beyond these (a malformed subprotocol list) reaches the server's
 * `wsClientError` handler, which answers JSON too.
 */
export function upgradeRefusal(method: string, headers: UpgradeHeaders): SluiceError | undefined {
  const bad = (message: string): SluiceError =>
    new SluiceError('SLUICE_ERR_HTTP_BAD_HEADER', `ERR ${message}`);
  if (method !== 'GET')
    return new SluiceError('SLUICE_ERR_HTTP_METHOD', `ERR a WebSocket upgrade must be a GET, not ${method}`);
  if (single(headers['upgrade'])?.toLowerCase() !== 'websocket') return bad('expected Upgrade: websocket');
  if (!listsUpgrade(single(headers['connection'])?.toLowerCase())) return bad('expected Connection: Upgrade');
  const version = single(headers['sec-websocket-version']);
  if (version !== '13')
    return bad(`expected Sec-WebSocket-Version: 13, got ${JSON.stringify(version ?? null)}`);
  const key = single(headers['sec-websocket-key']);
  if (key === undefined || !KEY.test(key)) return bad('expected Sec-WebSocket-Key: 16 bytes in base64');
  return undefined;
}
