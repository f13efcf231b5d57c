// Which backend a caller runs on: the broker's own Redis, or its tenant's (named in the tokens file, reloadable).
import { SluiceError } from '../errors.js';
import type { RunnerStats } from './request-runner.js';
import type { Backend, StackShared } from './backend.js';
import { TenantBackend } from './tenant-backend.js';

/** One backend's connections at one instant, for the `tenant` label of the pool metrics. */
export interface TenantStats extends RunnerStats {
  readonly tenant: string;
}

/**
 * Holds the tenants' backends by name, made from the tokens file and remade on reload: a new tenant gets a backend
 * (no connection until its first request), a tenant whose Redis URL changed gets a new one, and one that left the
 * file has its connections closed.
 */
export class Backends {
  readonly #default: Backend;
  readonly #shared: StackShared;
  #tenants = new Map<string, TenantBackend>();

  constructor(defaultBackend: Backend, shared: StackShared) {
    this.#default = defaultBackend;
    this.#shared = shared;
  }

  /** The backend of a tenant ('' = the broker's own); a tenant no longer in the file gets one that refuses. */
  of(tenant: string): Backend {
    if (tenant === '') return this.#default;
    return this.#tenants.get(tenant) ?? gone(tenant, this.#default);
  }

  /** The tenant's backend if it has one (tests and metrics). */
  tenant(name: string): TenantBackend | undefined {
    return this.#tenants.get(name);
  }

  /** Takes the tenants of a (re)loaded tokens file: name → Redis URL. */
  update(tenants: ReadonlyMap<string, string>): void {
    const next = new Map<string, TenantBackend>();
    for (const [name, redisUrl] of tenants) {
      const known = this.#tenants.get(name);
      next.set(name, known?.redisUrl === redisUrl ? known : new TenantBackend(name, redisUrl, this.#shared));
    }
    for (const [name, backend] of this.#tenants) {
      if (next.get(name) === backend) continue;
      this.#shared.logger.info(
        { event: 'tenant_removed', tenant: name },
        'a tenant left the tokens file (or changed its Redis)',
      );
      void backend.close();
    }
    this.#tenants = next;
  }

  /** Connections of every tenant (those with none open report zeros), bounded by the tokens file. */
  stats(): TenantStats[] {
    return [...this.#tenants.values()].map((backend) => ({ tenant: backend.tenant, ...backend.stats() }));
  }

  /** Ends every running block of every tenant early (nil replies), for draining. */
  unblockAll(): void {
    for (const backend of this.#tenants.values()) backend.unblockAll();
  }

  async close(): Promise<void> {
    const all = [...this.#tenants.values()];
    this.#tenants = new Map();
    await Promise.allSettled(all.map((backend) => backend.close()));
  }
}

/** A backend for a tenant that left the tokens file while one of its callers was still in flight. */
function gone(tenant: string, fallback: Backend): Backend {
  const error = new SluiceError(
    'SLUICE_ERR_AUTH_REVOKED',
    `ERR tenant "${tenant}" is no longer in the tokens file`,
  );
  return {
    tenant,
    // Unreachable on purpose: a MONITOR of a removed tenant must not reach any Redis.
    target: { url: 'redis://tenant-removed.invalid:6379' },
    requests: {
      pipeline: (items, _timing, _affinity, answer) => answer(items.map(() => error)),
      transaction: (_items, _timing, _affinity, answer) => answer(error),
      stats: () => fallback.requests.stats(),
      nodeStats: () => [],
      unblockAll: () => {},
      idle: () => Promise.resolve(),
      close: () => Promise.resolve(),
    },
    hub: {
      check: () => error,
      connect: () => Promise.reject(error),
      subscribe: () => Promise.reject(error),
      unsubscribe: () => {},
      unsubscribeAll: () => {},
      noteDropped: () => {},
    },
  };
}
