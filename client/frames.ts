// WebSocket frames (docs/websocket.md): building requests and reading replies and pushes; pure.

import { type Arg, encodeCommands } from './args.js';
import { type JsonValue, parseJson } from './json.js';
import { type RawItem, type RequestKind, type SubscribeKind, toRawItem } from './transport.js';
import type { RequestId, WsPush } from './wire.js';

/** A frame from the broker: a reply to request `id` (one item, or one per command), or a pub/sub push. */
export type IncomingFrame =
  | { id: RequestId | null; item: RawItem }
  | { id: RequestId; items: RawItem[] }
  | { push: WsPush };

/** The text of a request frame: `{"id":1,"cmd":[…]}`, `{"id":2,"pipeline":[[…]]}` or `{"id":3,"multi":[[…]]}`. */
export function buildRequestFrame(
  id: RequestId,
  kind: RequestKind,
  commands: Arg[][],
  deadlineMs?: number,
): string {
  const { commands: wire, argEncoding } = encodeCommands(commands);
  return JSON.stringify({
    id,
    [kind]: kind === 'cmd' ? wire[0] : wire,
    ...(argEncoding ? { argEncoding } : {}),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
  });
}

/** The text of a (p)(un)subscribe frame: `{"id":4,"subscribe":["ch"]}`. */
export function buildSubscribeFrame(
  id: RequestId,
  kind: SubscribeKind | 'unsubscribe' | 'punsubscribe',
  names: string[],
): string {
  return JSON.stringify({ id, [kind]: names });
}

const str = (v: JsonValue | undefined): v is string => typeof v === 'string';

/**
 * Reads a text frame from the broker (integers beyond 2^53 stay exact). Returns `undefined` for anything that is
 * not a reply or push this client understands; throws `SyntaxError` for text that is not JSON.
 */
export function parseIncomingFrame(text: string): IncomingFrame | undefined {
  const f = parseJson(text);
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return undefined;
  const { id, type, channel, data, pattern } = f;
  if ((type === 'message' || type === 'pmessage') && str(channel) && str(data)) {
    if (type === 'message') return { push: { type, channel, data } };
    return str(pattern) ? { push: { type, pattern, channel, data } } : undefined;
  }
  const okId = typeof id === 'number' || str(id);
  if (Array.isArray(f['results']) && okId) {
    const items = f['results'].map(toRawItem);
    return items.every((i) => i !== undefined) ? { id, items: items as RawItem[] } : undefined;
  }
  const item = toRawItem(f);
  // A broker error about a frame it could not read carries no id (or null).
  if (!item || !(okId || ((id === null || id === undefined) && 'error' in item))) return undefined;
  return { id: okId ? id : null, item };
}
