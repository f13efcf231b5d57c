// The broker's WebSocket server against a second, independent client: Node's built-in WebSocket (undici's WHATWG
// implementation, behind --experimental-websocket on Node 20), as a browser or an edge runtime would connect.
import { spawn } from 'node:child_process';
import t from 'tap';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { wsUrl } from './helpers/ws.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

/** Runs `script` (an ES module body with `url` in scope) under node with the global WebSocket; resolves its JSON output. */
function runClient(script: string, url: string): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    [
      '--experimental-websocket',
      '--no-warnings',
      '--input-type=module',
      '-e',
      `const url = ${JSON.stringify(url)};\n${script}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill(), 15000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`client exited ${code}: ${err}`));
      resolve(JSON.parse(out) as Record<string, unknown>);
    });
  });
}

const supported = await runClient(
  'console.log(JSON.stringify({ ok: typeof WebSocket === "function" }))',
  '',
).then(
  (r) => r.ok === true,
  () => false,
);

t.test(
  'commands, a 70 KB value both ways and a clean close',
  { skip: !supported && 'no --experimental-websocket' },
  async (t) => {
    const url = wsUrl(broker.url, `_token=${encodeURIComponent(TOKEN)}`);
    const result = await runClient(
      `
const ws = new WebSocket(url);
const replies = new Map();
const big = 'é'.repeat(35000);
const done = new Promise((resolve) => {
  ws.onmessage = (e) => {
    const reply = JSON.parse(e.data);
    replies.set(reply.id, reply);
    if (replies.size === 4) ws.close(1000, 'bye');
  };
  ws.onclose = (e) => resolve({ code: e.code, wasClean: e.wasClean });
});
ws.onopen = () => {
  ws.send(JSON.stringify({ id: 1, cmd: ['SET', 'interop:big', big] }));
  ws.send(JSON.stringify({ id: 2, cmd: ['GET', 'interop:big'] }));
  ws.send(JSON.stringify({ id: 3, pipeline: [['INCR', 'interop:n'], ['INCR', 'interop:n']] }));
  ws.send(JSON.stringify({ id: 4, cmd: ['ECHO', 'ünïcödé ✓'] }));
};
const close = await done;
console.log(JSON.stringify({
  close,
  set: replies.get(1),
  bigMatches: replies.get(2).result === big,
  pipeline: replies.get(3),
  echo: replies.get(4),
}));
`,
      url,
    );
    t.same(result, {
      close: { code: 1000, wasClean: true },
      set: { id: 1, result: 'OK' },
      bigMatches: true,
      pipeline: { id: 3, results: [{ result: 1 }, { result: 2 }] },
      echo: { id: 4, result: 'ünïcödé ✓' },
    });
    t.equal(await redis.client().strlen('interop:big'), 70000, 'stored as 70,000 bytes of UTF-8');
  },
);
