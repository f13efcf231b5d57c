// AWS Lambda (Node 20) using Sluice's own client (client/) over one WebSocket: many commands, one connection, no
// per-request HTTP overhead. Set on the function: SLUICE_URL (e.g. http://sluice.internal:8080) and SLUICE_TOKEN.
// Node 20 has no global WebSocket, so the `ws` package is passed in (the token then goes in the Authorization header).
// Bundle: npx esbuild sluice-client-ws.ts --bundle --platform=node --target=node20 --format=esm --outfile=dist/index.mjs
import { createClient } from 'sluice/client';
import { WebSocket } from 'ws';

/** The event this example expects: a job to enqueue and the queue to put it on. */
export interface EnqueueEvent {
  readonly queue: string;
  readonly job: string;
}

/** Pushes a job, records when, and returns the queue's length and its oldest job. */
export const handler = async (event: EnqueueEvent): Promise<{ length: number; oldest: string | null }> => {
  // A client per invocation: the socket opens on the first command and is closed before the function freezes, so
  // no half-dead socket survives into the next invocation.
  const redis = createClient({
    url: process.env.SLUICE_URL!,
    token: process.env.SLUICE_TOKEN!,
    transport: 'ws',
    WebSocket,
  });
  try {
    // Issued together, multiplexed on the one socket, run in order.
    const [length, , oldest] = await Promise.all([
      redis.rpush(`queue:${event.queue}`, event.job),
      redis.hset(`queue:${event.queue}:meta`, 'last-push-ms', Date.now()),
      redis.lindex(`queue:${event.queue}`, 0),
    ]);
    return { length: Number(length), oldest: oldest as string | null };
  } finally {
    await redis.close();
  }
};
