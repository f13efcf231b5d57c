// A client that pulls large replies from a broker, run as its own process (so that its parsing does not skew the
// latency the test measures): pipelined GETs on one HTTP connection, WebSockets asking for many values, or
// parallel /pipeline requests. Prints one JSON summary line on stdout when done.
import { connect } from 'node:net';
import { WebSocket } from 'ws';

/** What a heavy client reports. */
export interface HeavySummary {
  /** Answers received whole. */
  readonly answers: number;
  /** Answers that carried the value (HTTP 200 / WS result). */
  readonly ok: number;
  /** Error codes of the other answers, and `close:<code>` for sockets the broker closed. */
  readonly codes: Record<string, number>;
  readonly ms: number;
}

const [mode = '', url = '', token = '', ...rest] = process.argv.slice(2);
const numbers = rest.map(Number);
const started = performance.now();
const codes: Record<string, number> = {};
const count = (code: string) => {
  codes[code] = (codes[code] ?? 0) + 1;
};

function done(answers: number, ok: number): void {
  const summary: HeavySummary = { answers, ok, codes, ms: Math.round(performance.now() - started) };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
}

function codeOfBody(body: string): string {
  try {
    return String((JSON.parse(body) as { code?: unknown }).code ?? 'no-code');
  } catch {
    return 'not-json';
  }
}

/** `requests` pipelined `GET /get/<key>` written at once on one keep-alive connection, answers read as they come. */
function httpPipeline(requests: number, key: string): void {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const request = `GET /get/${key} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`;
  socket.on('connect', () => socket.write(request.repeat(requests)));
  let buffered = Buffer.alloc(0);
  let bodyLeft = -1;
  let status = 0;
  let small: Buffer[] = [];
  let answers = 0;
  let ok = 0;
  const answered = () => {
    answers++;
    if (status === 200) ok++;
    else count(codeOfBody(Buffer.concat(small).toString('utf8')));
    small = [];
    bodyLeft = -1;
    if (answers === requests) {
      socket.destroy();
      done(answers, ok);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    let data = buffered.length > 0 ? Buffer.concat([buffered, chunk]) : chunk;
    buffered = Buffer.alloc(0);
    while (data.length > 0) {
      if (bodyLeft >= 0) {
        const take = Math.min(bodyLeft, data.length);
        if (status !== 200) small.push(data.subarray(0, take));
        bodyLeft -= take;
        data = data.subarray(take);
        if (bodyLeft === 0) answered();
        continue;
      }
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        buffered = Buffer.from(data);
        return;
      }
      const head = data.subarray(0, end).toString('latin1');
      status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      bodyLeft = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      data = data.subarray(end + 4);
      if (bodyLeft === 0) answered();
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    count('closed');
    done(answers, ok);
  });
}

/** `sockets` WebSockets, each sending `perSocket` GET frames at once. */
function websockets(sockets: number, perSocket: number, key: string): void {
  let answers = 0;
  let ok = 0;
  let open = sockets;
  const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
  for (let s = 0; s < sockets; s++) {
    const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
    let mine = 0;
    ws.on('open', () => {
      for (let i = 0; i < perSocket; i++) ws.send(`{"id":${i},"cmd":["get","${key}"]}`);
    });
    ws.on('message', (data: Buffer) => {
      answers++;
      mine++;
      // a reply is {"id":…,"result":…} or {"id":…,"error":…,"code":…}; only errors are small enough to parse
      if (data.length > 4096 || data.includes('"result"')) ok++;
      else count(codeOfBody(data.toString('utf8')));
      if (mine === perSocket) ws.close();
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      if (code !== 1000 && code !== 1005) count(`close:${code}`);
      if (--open === 0) done(answers, ok);
    });
  }
}

/** `parallel` /pipeline requests of `commands` GETs each. */
async function pipelines(parallel: number, commands: number, key: string): Promise<void> {
  const body = JSON.stringify(Array.from({ length: commands }, () => ['get', key]));
  let ok = 0;
  const results = await Promise.all(
    Array.from({ length: parallel }, async () => {
      try {
        const response = await fetch(`${url}/pipeline`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}` },
          body,
        });
        const text = await response.text();
        if (response.status !== 200) return count(codeOfBody(text));
        // a /pipeline answers 200 with an error per failed item: it counts as whole only with none
        const failed = (JSON.parse(text) as { code?: string; error?: string }[]).filter((i) => 'error' in i);
        for (const item of failed) count(item.code ?? 'redis-error');
        if (failed.length === 0) ok++;
      } catch (error) {
        count(`fetch:${(error as Error).message}`);
      }
    }),
  );
  done(results.length, ok);
}

if (mode === 'http-pipeline') httpPipeline(numbers[0]!, rest[1]!);
else if (mode === 'ws') websockets(numbers[0]!, numbers[1]!, rest[2]!);
else if (mode === 'pipeline') void pipelines(numbers[0]!, numbers[1]!, rest[2]!);
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
