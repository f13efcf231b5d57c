// Pool families: connections by pool and state, pool bounds, commands in flight, and whether Redis is up.
import type { Registry } from 'prom-client';
import { gauge } from './family.js';
import type { SourceSet } from './sources.js';

/** Registers the pool gauges; all read `sources` at scrape time. */
export function registerPoolMetrics(registry: Registry, sources: SourceSet): void {
  const samples = () =>
    Object.entries(sources.current.pools ?? {}).map(([pool, read]) => [pool, read()] as const);
  gauge(registry, 'sluice_pool_connections', function () {
    this.reset();
    for (const [pool, sample] of samples())
      for (const [state, count] of Object.entries(sample.connections)) this.labels(pool, state).set(count);
  });
  gauge(registry, 'sluice_pool_max_connections', function () {
    this.reset();
    for (const [pool, sample] of samples()) this.labels(pool).set(sample.max);
  });
  gauge(registry, 'sluice_inflight_commands', function () {
    this.reset();
    for (const [pool, sample] of samples()) this.labels(pool).set(sample.inflight);
  });
  gauge(registry, 'sluice_cluster_node_connections', function () {
    this.reset();
    for (const { node, pool, state, count } of sources.current.clusterNodes?.() ?? []) {
      this.labels(node, pool, state).set(count);
    }
  });
  gauge(registry, 'sluice_redis_up', function () {
    const { redisUp, pools } = sources.current;
    const main = pools?.['main'];
    const up = redisUp ? redisUp() : main ? (main().connections['ready'] ?? 0) > 0 : false;
    this.set(up ? 1 : 0);
  });
}
