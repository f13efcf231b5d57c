// Transport and pub/sub families: WebSocket sockets and frames, SSE streams, channels, listeners, dropped messages.
import type { Registry } from 'prom-client';
import { advance, counter, gauge } from './family.js';
import type { SourceSet } from './sources.js';

/** Registers the transport and pub/sub families; all read `sources` at scrape time. */
export function registerTransportMetrics(registry: Registry, sources: SourceSet): void {
  gauge(registry, 'sluice_ws_sockets', function () {
    this.set(sources.current.ws?.().sockets ?? 0);
  });
  let framesIn = 0;
  let framesOut = 0;
  counter(registry, 'sluice_ws_frames_total', function () {
    const ws = sources.current.ws?.();
    framesIn = advance((by) => this.labels('in').inc(by), ws?.framesIn ?? framesIn, framesIn);
    framesOut = advance((by) => this.labels('out').inc(by), ws?.framesOut ?? framesOut, framesOut);
  });
  gauge(registry, 'sluice_sse_streams', function () {
    this.set(sources.current.sse?.().streams ?? 0);
  });
  gauge(registry, 'sluice_pubsub_channels', function () {
    const hub = sources.current.pubsub?.();
    this.labels('channel').set(hub?.channels ?? 0);
    this.labels('pattern').set(hub?.patterns ?? 0);
  });
  gauge(registry, 'sluice_pubsub_listeners', function () {
    this.set(sources.current.pubsub?.().listeners ?? 0);
  });
  let messages = 0;
  counter(registry, 'sluice_pubsub_messages_total', function () {
    messages = advance((by) => this.inc(by), sources.current.pubsub?.().messages ?? messages, messages);
  });
  let dropped = 0;
  counter(registry, 'sluice_pubsub_dropped_messages_total', function () {
    dropped = advance((by) => this.inc(by), sources.current.pubsub?.().dropped ?? dropped, dropped);
  });
}
