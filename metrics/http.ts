// `sluice_http_requests_total` by route and status, with label children resolved once per pair.
import type { Registry } from 'prom-client';
import type { FastCounter } from './fast-families.js';
import { eventCounter } from './family.js';

/** HTTP responses by route and status. Routes are the broker's known routes; statuses are those it sends. */
export class HttpMetrics {
  readonly #requests: FastCounter;
  readonly #children = new Map<string, Map<number, { inc(): void }>>();

  constructor(registry: Registry) {
    this.#requests = eventCounter(registry, 'sluice_http_requests_total');
  }

  response(route: string, status: number): void {
    let byStatus = this.#children.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.#children.set(route, byStatus);
    }
    let child = byStatus.get(status);
    if (child === undefined) {
      child = this.#requests.labels(route, String(status));
      byStatus.set(status, child);
    }
    child.inc();
  }
}
