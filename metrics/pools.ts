// Pool families: connections by pool and state, pool bounds, commands in flight, and whether Redis is up.
import type { Registry } from 'prom-client';
import { gauge } from './family.js';
import type { SourceSet, TenantPoolSample } from './sources.js';

/** Registers the pool gauges; all read `sources` at scrape time. */
export function registerPoolMetrics(registry: Registry, sources: SourceSet): void {
  // The broker's own pools under tenant="default", then each tenant's (names from the tokens file only).
  const samples = (): TenantPoolSample[] => [
    ...Object.entries(sources.current.pools ?? {}).map(([pool, read]) => ({
      tenant: 'default',
      pool,
      sample: read(),
    })),
    ...(sources.current.tenantPools?.() ?? []),
  ];
  gauge(registry, 'sluice_pool_connections', function () {
    this.reset();
    for (const { tenant, pool, sample } of samples())
      for (const [state, count] of Object.entries(sample.connections))
        this.labels(pool, state, tenant).set(count);
  });
  gauge(registry, 'sluice_pool_max_connections', function () {
    this.reset();
    for (const { tenant, pool, sample } of samples()) this.labels(pool, tenant).set(sample.max);
  });
  gauge(registry, 'sluice_inflight_commands', function () {
    this.reset();
    for (const { tenant, pool, sample } of samples()) this.labels(pool, tenant).set(sample.inflight);
  });
  gauge(registry, 'sluice_redis_connections', function () {
    const read = sources.current.redisConnections?.();
    this.reset();
    if (read) {
      this.labels('held').set(read.held);
      this.labels('max').set(read.max);
    }
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
