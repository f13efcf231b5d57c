// The contract between the shared subscriber (pub/sub fan-out) and the transports that deliver messages (SSE, WebSocket).

/** Channel subscriptions (SUBSCRIBE) or pattern subscriptions (PSUBSCRIBE). */
export type SubscriptionKind = 'channel' | 'pattern';

/** One delivered message. `pattern` is set for pattern subscriptions. Bytes are raw. */
export interface PubSubMessage {
  readonly channel: Buffer;
  readonly data: Buffer;
  readonly pattern?: Buffer;
}

/** Something that receives messages: one SSE stream or one WebSocket. */
export interface PubSubListener {
  /** Called for every message on a name the listener subscribed to. Must not throw; must bound its own buffering. */
  deliver(message: PubSubMessage): void;
  /** The hub can no longer serve this listener (e.g. the broker drains); it is already removed. */
  closed(reason: Error): void;
}

/**
 * The shared subscriber: a few Redis connections for the whole process, reference-counted per channel/pattern,
 * fanned out to every listener, re-subscribed after a reconnect.
 */
export interface PubSubHub {
  /** Adds a listener; resolves once Redis confirmed the subscription (at once if already held). */
  subscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): Promise<void>;
  /** Removes a listener; the Redis subscription ends when nobody listens any more. */
  unsubscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): void;
  /** Removes a listener from everything it subscribed to (socket closed). */
  unsubscribeAll(listener: PubSubListener): void;
}
