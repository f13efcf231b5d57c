// Load generator: one client writing then reading its write, carrying `upstash-sync-token` as @upstash/redis does.
// Records the latency of the read only (the write goes to the primary either way); a read that misses the write
// is an error.
import { Agent, request } from 'node:http';
import { loadMain, Recorder } from '../lib/load-child.js';
import type { LoadResult } from '../lib/loadgen.js';

export interface ReadYourWritesArgs {
  readonly url: string;
  readonly token: string;
  readonly key: string;
  readonly warmupS: number;
  readonly durationS: number;
}

const SYNC = 'upstash-sync-token';

async function main(args: ReadYourWritesArgs): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let syncToken = '';
  const post = (body: string): Promise<unknown> =>
    new Promise((resolvePost, reject) => {
      const headers = {
        authorization: `Bearer ${args.token}`,
        'content-type': 'application/json',
        [SYNC]: syncToken,
      };
      const req = request(`${args.url}/`, { method: 'POST', agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const token = res.headers[SYNC];
          syncToken = typeof token === 'string' ? token : '';
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} ${text.slice(0, 100)}`));
          else resolvePost((JSON.parse(text) as { result?: unknown }).result);
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  const rec = new Recorder();
  const loop = (async () => {
    for (let i = 0; rec.running; i++) {
      try {
        await post(JSON.stringify(['set', args.key, String(i)]));
        const start = process.hrtime.bigint();
        const got = await post(JSON.stringify(['get', args.key]));
        if (got !== String(i)) throw new Error(`read ${String(got)} after writing ${i}`);
        rec.done(start);
      } catch (err) {
        rec.failed(err);
        if (rec.result().errors > 100) break;
      }
    }
  })();
  await rec.window(args.warmupS, args.durationS);
  await loop;
  return rec.result();
}

loadMain(main);
