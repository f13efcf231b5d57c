// AWS Lambda (Node 20) using the official @upstash/redis client against Sluice instead of Upstash: only the URL
// and token change. Set on the function:
//   UPSTASH_REDIS_REST_URL   = Sluice's main listener, e.g. http://sluice.internal:8080
//   UPSTASH_REDIS_REST_TOKEN = SLUICE_TOKEN (or a narrower token from SLUICE_TOKENS_FILE)
// Bundle: npx esbuild upstash-redis.ts --bundle --platform=node --target=node20 --format=esm --outfile=dist/index.mjs
import { Redis } from '@upstash/redis';

// Created once per container, outside the handler: warm invocations reuse it (and its keep-alive connections).
const redis = Redis.fromEnv();

/** The event this example expects: which page was viewed. */
export interface PageViewEvent {
  readonly page: string;
}

/** Counts a page view for today and returns the count and the day's top pages. */
export const handler = async (event: PageViewEvent): Promise<{ views: number; top: string[] }> => {
  const day = new Date().toISOString().slice(0, 10);
  const key = `views:${day}`;
  // One POST /pipeline to Sluice: three commands, one round trip, run in order on one Redis connection.
  const [views] = await redis
    .pipeline()
    .zincrby(key, 1, event.page)
    .expire(key, 7 * 86400)
    .exec<[number, number]>();
  const top = await redis.zrange<string[]>(key, 0, 2, { rev: true });
  return { views, top };
};
