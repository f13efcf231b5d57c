// Wire types shared by the broker and the client: the WebSocket frames of docs/websocket.md and the REST reply shapes.
// This file is imported by broker/ (never the reverse) and has no runtime dependencies.

/** A command as sent on the wire: name first, then its arguments. */
export type WireCommand = ReadonlyArray<string | number | boolean>;

/** A request id chosen by the client; replies echo it. */
export type RequestId = number | string;

/** A RESP2 value as JSON: integers are numbers, bulk and simple strings are strings, nil is null. */
export type WireValue = null | number | string | WireValue[];

/** One item of a pipeline or transaction reply: a result or a Redis/broker error. */
export type WireItem = { result: WireValue } | { error: string; code?: string };

/** Client → broker WebSocket requests. `argEncoding: "base64"` makes every argument after the name base64 bytes. */
export type WsRequest =
  | { id: RequestId; cmd: WireCommand; argEncoding?: 'base64'; deadlineMs?: number }
  | { id: RequestId; pipeline: WireCommand[]; argEncoding?: 'base64'; deadlineMs?: number }
  | { id: RequestId; multi: WireCommand[]; argEncoding?: 'base64'; deadlineMs?: number }
  | { id: RequestId; subscribe: string[] }
  | { id: RequestId; psubscribe: string[] }
  | { id: RequestId; unsubscribe: string[] }
  | { id: RequestId; punsubscribe: string[] };

/** Broker → client WebSocket replies and pushes. */
export type WsReply =
  | { id: RequestId; result: WireValue }
  | { id: RequestId | null; error: string; code?: string }
  | { id: RequestId; results: WireItem[] };

export type WsPush =
  | { type: 'message'; channel: string; data: string }
  | { type: 'pmessage'; pattern: string; channel: string; data: string };

/** REST single-command reply body. */
export type RestReply = { result: WireValue } | { error: string; code?: string };

/** Header names of the REST protocol (lower case, as Node reports them). */
export const HEADERS = {
  encoding: 'upstash-encoding',
  responseFormat: 'upstash-response-format',
  syncToken: 'upstash-sync-token',
  deadline: 'sluice-deadline-ms',
} as const;

/**
 * The sync token to keep after a response: the response's own, unless both are Sluice positions
 * (`s1.<replid>.<offset>.<mac>.<nonce>`) of one replication ID and the response's is older. Concurrent requests land
 * in any order; keeping the newest position means a read never carries a token older than a write already answered.
 */
export function newerSyncToken(kept: string, incoming: string): string {
  const [v, id, at] = kept.split('.');
  const [w, id2, at2] = incoming.split('.');
  return v === 's1' && w === v && id === id2 && Number(at2) < Number(at) ? kept : incoming;
}
