// A raw SSE reader for tests: one HTTP request on its own socket, every received line kept in order.
import { request } from 'node:http';
import { TOKEN } from './broker.js';

/** One open event stream (or a refused request, with its JSON body in `lines`). */
export interface TestStream {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Every line received so far, without its `\n` (blank separator lines included). */
  readonly lines: string[];
  /** Resolves when the response has ended (server closed it). */
  readonly ended: Promise<void>;
  /** Waits until a line satisfies `match`; returns it. Rejects after `timeoutMs`. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Lines that start with `data: `, with that prefix. */
  data(): string[];
  close(): void;
}

/** Opens `path` on the broker (POST with `[]` by default) and resolves once the response headers arrived. */
export function openStream(
  url: string,
  path: string,
  options: { token?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<TestStream> {
  const target = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request(target, {
      method: options.method ?? 'POST',
      agent: false,
      headers: {
        Authorization: `Bearer ${options.token ?? TOKEN}`,
        Accept: 'text/event-stream',
        'Content-Type': 'application/json',
        ...options.headers,
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const lines: string[] = [];
      const waiters = new Set<() => void>();
      let partial = '';
      let resolveEnded: () => void = () => {};
      const ended = new Promise<void>((r) => {
        resolveEnded = r;
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts);
        for (const wake of [...waiters]) wake();
      });
      const finish = () => {
        if (partial !== '') lines.push(partial);
        partial = '';
        resolveEnded();
        for (const wake of [...waiters]) wake();
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', () => {});
      req.on('error', () => {});
      let done = false;
      ended.then(() => {
        done = true;
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        lines,
        ended,
        data: () => lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)),
        waitFor(match, timeoutMs = 10_000) {
          return new Promise((resolveLine, rejectLine) => {
            let seen = 0;
            const check = () => {
              for (; seen < lines.length; seen++) {
                if (match(lines[seen]!)) {
                  cleanup();
                  return resolveLine(lines[seen]!);
                }
              }
              if (done) {
                cleanup();
                rejectLine(new Error(`stream ended without the line; got ${JSON.stringify(lines)}`));
              }
            };
            const timer = setTimeout(() => {
              cleanup();
              rejectLine(
                new Error(`no matching line in ${timeoutMs} ms; got ${JSON.stringify(lines.slice(-10))}`),
              );
            }, timeoutMs);
            const cleanup = () => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.end(options.method === 'GET' || options.method === 'HEAD' ? undefined : '[]');
  });
}
