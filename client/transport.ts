// The contract between the client facade and its HTTP and WebSocket transports.

import type { Arg } from './args.js';
import type { JsonValue } from './json.js';

/** One undecoded reply: a result as parsed from the wire (still base64), or an error with its code. */
export type RawItem = { result: JsonValue } | { error: string; code?: string | undefined };

/** Reads one `{"result": …}` / `{"error": …, "code"?: …}` object; `undefined` when it is neither. */
export function toRawItem(v: JsonValue | undefined): RawItem | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const { error, code } = v;
  if (typeof error === 'string') return { error, code: typeof code === 'string' ? code : undefined };
  return 'result' in v ? { result: v['result'] ?? null } : undefined;
}

/** A pub/sub message as delivered by a transport: payload bytes, with the pattern for `psubscribe`. */
export interface Push {
  channel: string;
  pattern?: string | undefined;
  data: Uint8Array;
}

/** What is sent in one request: a single command, a pipeline, or an atomic transaction. */
export type RequestKind = 'cmd' | 'pipeline' | 'multi';

/** Per-request options passed down to a transport. */
export interface RequestOptions {
  /** Deadline the broker applies to this request, in milliseconds from its arrival. */
  deadlineMs?: number | undefined;
}

/** A subscription kind: to channels or to glob-style patterns. */
export type SubscribeKind = 'subscribe' | 'psubscribe';

/** A transport carries requests and subscriptions; its replies are still in wire encoding. */
export interface Transport {
  /** Whether result strings arrive base64-encoded (decode with `decodeValue(…, true, …)`). */
  readonly base64: boolean;
  /**
   * Sends commands once and never again. For `cmd`, resolves to one item; for `pipeline`, one item per command;
   * for `multi`, one item per command or rejects with a `SluiceError` when the transaction was discarded.
   */
  send(kind: RequestKind, commands: Arg[][], options: RequestOptions): Promise<RawItem[]>;
  /**
   * Starts listening and resolves, with the function that stops it, once the server confirmed the subscription.
   * `onPush` gets each message; `onError` gets a failure that ended the subscription after it started.
   */
  subscribe(
    kind: SubscribeKind,
    name: string,
    onPush: (push: Push) => void,
    onError: (error: Error) => void,
  ): Promise<() => void>;
  /** Ends subscriptions and sockets; pending requests fail with `SLUICE_ERR_CLIENT_CLOSED`. */
  close(): Promise<void>;
}
