// Load for bench/instructions/run.sh: `ops` single-GET `cmd` frames over `sockets` WebSockets, `window` in flight on
// each (scenario 4's shape), as fast as the broker answers. Prints one line and exits; exit code 1 on any error.
import WebSocket from 'ws';

const [url, opsText, socketsText = '100', windowText = '10'] = process.argv.slice(2);
if (url === undefined || opsText === undefined) {
  console.error('usage: node dist/bench/instructions/ws-load.js <ws-url> <ops> [sockets] [window]');
  process.exit(2);
}
const ops = Number(opsText);
const sockets = Number(socketsText);
const window = Number(windowText);
const frame = JSON.stringify({ id: 1, cmd: ['GET', 'bench:k'] });
let sent = 0;
let answered = 0;
const started = performance.now();

for (let s = 0; s < sockets; s++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const send = () => {
    if (sent >= ops) return;
    sent++;
    ws.send(frame);
  };
  ws.on('open', () => {
    for (let i = 0; i < window; i++) send();
  });
  ws.on('message', (data) => {
    if (String(data).includes('"error"')) fail(`error reply: ${String(data)}`);
    if (++answered === ops) {
      console.log(`${ops} commands in ${(performance.now() - started).toFixed(0)} ms`);
      process.exit(0);
    }
    send();
  });
  ws.on('error', (error) => fail(error.message));
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}
