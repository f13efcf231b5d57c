// A constant-reply WebSocket server, the floor of a broker on each WebSocket implementation: per text frame a
// JSON.parse and a constant reply, corked until the end of the tick. `ws` mode runs on ws (as the broker does);
// `own` mode on the RFC 6455 reader and writer the broker had before ws (b3ccace), from a checkout of it.
//   node bench/instructions/ws-floor.mjs ws <port>
//   node bench/instructions/ws-floor.mjs own <port> <checkout of b3ccace, built>
// Prints "sluice ready" when listening; load and count it as bench/instructions/run.sh does a broker.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';

const [mode, port, baseCheckout] = process.argv.slice(2);
const VALUE = '0123456789abcdef0123456789abcdef';
const TEXT = { binary: false };
const reply = (data) => `{"id":${JSON.parse(data.toString('utf8')).id},"result":"${VALUE}"}`;
const fromBase = (file) => import(pathToFileURL(join(baseCheckout ?? '.', 'dist/broker/ws', file)).href);
const own =
  mode === 'own'
    ? await Promise.all(['frame-reader.js', 'frame-writer.js', 'handshake.js'].map(fromBase))
    : [];

/** Corks `socket` until the end of the tick, once per tick. */
function corker(socket) {
  let corked = false;
  const uncork = () => {
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

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const server = createServer((_, res) => res.end());
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const cork = corker(socket);
  if (mode === 'ws') {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data) => {
        cork();
        ws.send(Buffer.from(reply(data)), TEXT);
      });
    });
    return;
  }
  const [{ FrameReader }, { textFrame }, { acceptUpgrade }] = own;
  socket.write(acceptUpgrade(req.method, req.headers));
  const reader = new FrameReader(1 << 20, {
    message: (data) => {
      cork();
      socket.write(textFrame(reply(data)));
    },
    ping() {},
    pong() {},
    close: () => socket.end(),
    fail: () => socket.destroy(),
  });
  socket.on('data', (chunk) => reader.push(chunk));
  if (head.length > 0) reader.push(head);
});
server.listen(Number(port), '127.0.0.1', () => console.log('sluice ready'));
