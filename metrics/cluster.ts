// Several workers (SLUICE_WORKERS > 1): each worker answers the primary's metric requests; the primary sums them.
import { AggregatorRegistry, type Registry } from 'prom-client';

/** One scrape: Prometheus text and its content type. */
export interface Scrape {
  readonly contentType: string;
  readonly body: string;
}

/**
 * Called in a worker: the primary's requests are answered from `registry` (not prom-client's global one).
 * Constructing an AggregatorRegistry is what installs prom-client's worker-side message listener.
 */
export function shareWithPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
}

/** Called in the primary: a scrape that asks every worker and combines the families by their aggregators. */
export function clusterScrape(): () => Promise<Scrape> {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}
