// Opening a client WebSocket to the broker, with refusals turned into errors that say what happened.
import WebSocket from 'ws';

/** Opens one socket (no compression); resolves when open, rejects on error or a refused upgrade. */
export function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolveOpen, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolveOpen(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      ws.terminate();
    });
  });
}
