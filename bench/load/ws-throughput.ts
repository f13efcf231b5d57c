// Load generator: N WebSockets, each keeping `window` GET requests in flight (single `cmd` or `pipeline` frames).
import { loadMain, Recorder } from '../lib/load-child.js';
import type { LoadResult } from '../lib/loadgen.js';
import { openSocket } from '../lib/ws-client.js';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/** Arguments from the harness. */
export interface WsThroughputArgs {
  readonly url: string;
  readonly sockets: number;
  readonly window: number;
  /** `cmd`: one GET per frame; `pipeline`: `pipelineSize` GETs per frame. */
  readonly mode: 'cmd' | 'pipeline';
  readonly pipelineSize: number;
  readonly key: string;
  readonly value: string;
  readonly warmupS: number;
  readonly durationS: number;
}

interface Reply {
  id?: number;
  result?: unknown;
  results?: Array<{ result?: unknown; error?: string }>;
  error?: string;
}

/**
 * Frames sent in one tick (the replies of one read answered at once) leave in one write, as ioredis's
 * auto-pipelining does for the baseline: without it the load process spends ~70% of its CPU in one writev per
 * frame and becomes the bottleneck it is meant to measure. `ws` keeps its socket in `_socket`.
 */
function corker(ws: WebSocket): () => void {
  let corked = false;
  const socket = (ws as unknown as { _socket: Socket })._socket;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    process.nextTick(uncork);
  };
}

async function main(args: WsThroughputArgs): Promise<LoadResult> {
  const rec = new Recorder();
  const settled = await Promise.allSettled(Array.from({ length: args.sockets }, () => openSocket(args.url)));
  const sockets = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (sockets.length === 0) throw new Error(`no WebSocket opened: ${String(refused?.reason)}`);
  const cmd = JSON.stringify(['GET', args.key]);
  const body =
    args.mode === 'cmd'
      ? `,"cmd":${cmd}}`
      : `,"pipeline":[${Array.from({ length: args.pipelineSize }, () => cmd).join(',')}]}`;
  const opsPerFrame = args.mode === 'cmd' ? 1 : args.pipelineSize;
  for (const ws of sockets) {
    const starts = new Array<bigint>(args.window).fill(0n);
    let nextId = 0;
    const corkTick = corker(ws);
    const send = (): void => {
      const id = nextId++;
      starts[id % args.window] = process.hrtime.bigint();
      corkTick();
      ws.send(`{"id":${id}${body}`);
    };
    ws.on('message', (data) => {
      let reply: Reply;
      try {
        reply = JSON.parse(String(data)) as Reply;
      } catch (err) {
        rec.failed(err);
        return;
      }
      const id = typeof reply.id === 'number' ? reply.id : -1;
      if (reply.error !== undefined) rec.failed(new Error(reply.error));
      else if (args.mode === 'cmd' && reply.result !== args.value)
        rec.failed(new Error(`unexpected reply ${data}`));
      else if (args.mode === 'pipeline' && reply.results?.[0]?.result !== args.value) {
        rec.failed(new Error(`unexpected reply ${String(data).slice(0, 200)}`));
      } else rec.done(starts[id % args.window] ?? 0n, opsPerFrame);
      if (rec.running) send();
    });
    ws.on('close', (code, reason) => {
      if (rec.running) rec.failed(new Error(`socket closed ${code} ${reason}`));
    });
    ws.on('error', (err) => rec.failed(err));
    for (let i = 0; i < args.window; i++) send();
  }
  await rec.window(args.warmupS, args.durationS);
  for (const ws of sockets) ws.terminate();
  return rec.result();
}

loadMain(main);
