// Load generator: one client, one GET at a time — the latency a single function sees.
import { Agent, request } from 'node:http';
import { Redis } from 'ioredis';
import { loadMain, Recorder } from '../lib/load-child.js';
import type { LoadResult } from '../lib/loadgen.js';
import { openSocket } from '../lib/ws-client.js';

/** Which client. `http` POSTs `body` with a keep-alive agent; `http-get` GETs `path` (webdis style). */
export type SequentialArgs = (
  | { readonly kind: 'http'; readonly url: string; readonly token: string }
  | { readonly kind: 'http-get'; readonly url: string; readonly path: string }
  | { readonly kind: 'ws'; readonly url: string }
  | { readonly kind: 'ioredis'; readonly port: number }
) & { readonly key: string; readonly warmupS: number; readonly durationS: number };

type Get = () => Promise<void>;

function httpClient(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Get {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return () =>
    new Promise((resolveGet, reject) => {
      const req = request(`${url}${path}`, { method, agent, headers }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () =>
          res.statusCode === 200 ? resolveGet() : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
}

async function makeClient(args: SequentialArgs): Promise<Get> {
  switch (args.kind) {
    case 'http': {
      const body = JSON.stringify(['get', args.key]);
      const headers = { authorization: `Bearer ${args.token}`, 'content-type': 'application/json' };
      return httpClient(args.url, 'POST', '/', headers, body);
    }
    case 'http-get':
      return httpClient(args.url, 'GET', args.path, {}, '');
    case 'ws': {
      const ws = await openSocket(args.url);
      let pending: { resolve: () => void; reject: (e: Error) => void } | undefined;
      ws.on('message', (data) => {
        const reply = JSON.parse(String(data)) as { error?: string };
        const p = pending;
        pending = undefined;
        if (reply.error !== undefined) p?.reject(new Error(reply.error));
        else p?.resolve();
      });
      ws.on('close', (code) => pending?.reject(new Error(`socket closed ${code}`)));
      const frame = JSON.stringify({ id: 1, cmd: ['GET', args.key] });
      return () =>
        new Promise((resolve, reject) => {
          pending = { resolve, reject };
          ws.send(frame);
        });
    }
    case 'ioredis': {
      const redis = new Redis({ host: '127.0.0.1', port: args.port, lazyConnect: true });
      await redis.connect();
      return async () => {
        await redis.get(args.key);
      };
    }
  }
}

async function main(args: SequentialArgs): Promise<LoadResult> {
  const get = await makeClient(args);
  await get();
  const rec = new Recorder();
  const loop = (async () => {
    while (rec.running) {
      const start = process.hrtime.bigint();
      try {
        await get();
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
