// Subscribing over HTTP: the SSE stream read from fetch's body, against a scripted SSE peer.

import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { SluiceError, createClient } from '../client/index.js';
import { waitFor } from './helpers/time.js';

const streams: ServerResponse[] = [];
const seen: Array<{ url: string; accept: string | undefined; auth: string | undefined }> = [];
let closed = 0;
const server = createServer((req, res) => {
  seen.push({ url: req.url ?? '', accept: req.headers.accept, auth: req.headers.authorization });
  if (req.headers.authorization !== 'Bearer good') {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end('{"error":"WRONGPASS invalid or missing auth token","code":"SLUICE_ERR_AUTH_INVALID"}');
    return;
  }
  const [, kind, name] = /^\/(p?subscribe)\/(.*)$/.exec(req.url ?? '') ?? [];
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.on('close', () => closed++);
  streams.push(res);
  // Split one line across two writes to exercise the line joiner.
  res.write(`: keepalive\n\ndata: ${kind},${decodeURIComponent(name ?? '')}`);
  setTimeout(() => res.write(',1\n\n'), 20);
});
server.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
t.teardown(() => new Promise((r) => server.close(r)));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

t.test('subscribe resolves on the confirmation line and delivers messages', async (t) => {
  const c = createClient({ url, token: 'good' });
  const got: string[] = [];
  const unsubscribe = await c.subscribe('a/b c', (m, ch) => got.push(`${ch}|${m}`));
  t.same(seen.at(-1), { url: '/subscribe/a%2Fb%20c', accept: 'text/event-stream', auth: 'Bearer good' });
  const res = streams.at(-1)!;
  res.write('data: message,a/b c,hello, wor');
  res.write('ld\ndata: message,a/b c,é\n\n');
  await waitFor(() => got.length >= 2, 1000, { everyMs: 10 });
  t.same(got, ['a/b c|hello, world', 'a/b c|é']);
  const before = closed;
  unsubscribe();
  await waitFor(() => closed !== before, 1000, { everyMs: 10 });
  t.equal(closed, before + 1, 'unsubscribe aborts the stream');
  await c.close();
});

t.test('psubscribe passes the pattern', async (t) => {
  const c = createClient({ url, token: 'good' });
  const got: string[][] = [];
  const stop = await c.psubscribe('n*', (m, ch, p) => got.push([m, ch, p]));
  streams.at(-1)!.write('data: pmessage,n*,news,{"a":1}\n');
  await waitFor(() => got.length >= 1, 1000, { everyMs: 10 });
  t.same(got, [['{"a":1}', 'news', 'n*']]);
  stop();
  await c.close();
});

t.test('a refusal rejects with the broker code; a stream ending later reaches onError', async (t) => {
  const bad = createClient({ url, token: 'bad' });
  const e = await bad.subscribe('x', () => {}).catch((error: unknown) => error as SluiceError);
  if (!(e instanceof SluiceError)) throw new Error('expected a SluiceError');
  t.equal(e.code, 'SLUICE_ERR_AUTH_INVALID');
  t.equal(e.status, 401);
  const c = createClient({ url, token: 'good' });
  let ended: SluiceError | undefined;
  await c.subscribe('y', () => {}, { onError: (error) => (ended = error as SluiceError) });
  streams.at(-1)!.end();
  await waitFor(() => ended, 1000, { everyMs: 10 });
  t.equal(ended?.code, 'SLUICE_ERR_CLIENT_NETWORK');
  await c.close();
});
