// The admin listener: /healthz (the process answers), /readyz (Redis reachable and not draining), /metrics.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { badTargetError, originFormOf } from '../entrance/request-target.js';
import { keepSocketErrorsLocal } from '../entrance/socket-errors.js';
import { errorBody } from '../protocol/items.js';

/** What the admin listener reads when asked. */
export interface AdminSources {
  /** Why the broker is not ready, or undefined when it is. */
  notReadyReason(): string | undefined;
  /** Prometheus text and its content type; undefined when metrics are disabled. */
  metrics?(): Promise<{ contentType: string; body: string }>;
}

function json(status: number, body: unknown): [number, string[], string] {
  return [status, ['Content-Type', 'application/json'], JSON.stringify(body)];
}

/** Creates the admin HTTP server (not yet listening). */
export function createAdminServer(sources: AdminSources): Server {
  const server = createServer((req, res) => {
    const reply = ([status, headers, body]: [number, string[], string]) => {
      res.writeHead(status, [...headers, 'Content-Length', String(Buffer.byteLength(body))]);
      res.end(body);
    };
    // A scraper behind a forward proxy asks in absolute-form (`GET http://host:9190/metrics`).
    const origin = originFormOf(req.url ?? '/');
    if (origin === undefined)
      return reply([400, ['Content-Type', 'application/json'], errorBody(badTargetError(req.url ?? ''))]);
    const path = origin.split('?')[0];
    if (path === '/healthz') return reply(json(200, { status: 'ok' }));
    if (path === '/readyz') {
      const reason = sources.notReadyReason();
      return reply(
        reason === undefined
          ? json(200, { status: 'ready' })
          : json(503, { status: 'not ready', error: reason }),
      );
    }
    if (path === '/metrics' && sources.metrics) {
      sources
        .metrics()
        .then(({ contentType, body }) => reply([200, ['Content-Type', contentType], body]))
        .catch((error: Error) =>
          reply(json(500, { error: `metrics failed: ${error.message}`, code: 'SLUICE_ERR_INTERNAL' })),
        );
      return;
    }
    reply(
      json(404, {
        error: `no route ${path}; try /healthz, /readyz or /metrics`,
        code: 'SLUICE_ERR_HTTP_NOT_FOUND',
      }),
    );
  });
  server.on('connection', (socket: Socket) => socket.on('error', keepSocketErrorsLocal));
  return server;
}
