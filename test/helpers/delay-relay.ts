// A TCP relay that delays every chunk, in both directions, keeping order: put between a replica and its primary,
// it makes replication lag real (tests of read regions, and the bench scenario with a replica). Real sockets only.
import { once } from 'node:events';
import { type Server, type Socket, createConnection, createServer } from 'node:net';

/** The delay added to each chunk: a fresh value in [minMs, maxMs] per chunk. */
export interface RelayDelay {
  readonly minMs: number;
  readonly maxMs: number;
}

/** A running relay; `port` is what the replica's `replicaof` points at. */
export interface DelayRelay {
  readonly port: number;
  /** Changes the delay of chunks that arrive from now on (chunks already queued keep theirs). */
  setDelay(delay: RelayDelay): void;
  /** Destroys every relayed connection and refuses new ones until `heal()`: the replication link is down. */
  cut(): void;
  heal(): void;
  /** Connections relayed right now. */
  connections(): number;
  close(): Promise<void>;
}

/** Bytes queued in one direction before its source is paused (the relay is bounded too). */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * Moves chunks from `from` to `to`, each after its delay, never before the one ahead of it: due times never
 * decrease, so the order of the byte stream holds whatever the random delays are. `from`'s end follows its data.
 */
function delayedPipe(from: Socket, to: Socket, delayMs: () => number): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let queued = 0;
  let lastDue = 0;
  let timer: NodeJS.Timeout | undefined;
  const drain = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk } = queue.shift()!;
      if (chunk === null) {
        to.end();
        return;
      }
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (from.isPaused() && queued < MAX_QUEUED_BYTES / 2) from.resume();
    schedule();
  };
  const schedule = (): void => {
    if (timer !== undefined || queue.length === 0) return;
    timer = setTimeout(drain, Math.max(0, queue[0]!.due - performance.now()));
  };
  const push = (chunk: Buffer | null): void => {
    lastDue = Math.max(lastDue, performance.now() + delayMs());
    queue.push({ due: lastDue, chunk });
    if (chunk !== null) queued += chunk.length;
    if (queued > MAX_QUEUED_BYTES) from.pause();
    schedule();
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  // half-open sockets: the end travels after the data, delayed like it
  from.on('end', () => push(null));
  from.on('close', (hadError) => {
    if (!hadError) return;
    clearTimeout(timer);
    queue.length = 0;
    to.destroy();
  });
}

/** Starts a relay on a free port of 127.0.0.1 forwarding to `target`. Call `close()` in t.teardown. */
export async function startDelayRelay(
  target: { host?: string; port: number },
  initial: RelayDelay,
): Promise<DelayRelay> {
  let delay = initial;
  let cut = false;
  const pairs = new Set<[Socket, Socket]>();
  const delayMs = (): number => delay.minMs + Math.random() * (delay.maxMs - delay.minMs);
  const server: Server = createServer({ allowHalfOpen: true }, (inbound) => {
    inbound.on('error', () => {});
    if (cut) {
      inbound.destroy();
      return;
    }
    const outbound = createConnection({
      host: target.host ?? '127.0.0.1',
      port: target.port,
      allowHalfOpen: true,
    });
    outbound.on('error', () => {});
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    // forgotten once both sides closed (each closes after its end was relayed, or at once on an error)
    let open = 2;
    const closed = (): void => {
      if (--open === 0) pairs.delete(pair);
    };
    inbound.on('close', closed);
    outbound.on('close', closed);
    delayedPipe(inbound, outbound, delayMs);
    delayedPipe(outbound, inbound, delayMs);
  });
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay: no port');
  const destroyAll = (): void => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    port: address.port,
    setDelay(next) {
      delay = next;
    },
    cut() {
      cut = true;
      destroyAll();
    },
    heal() {
      cut = false;
    },
    connections: () => pairs.size,
    async close() {
      cut = true;
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
