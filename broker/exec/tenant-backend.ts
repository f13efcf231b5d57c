// A tenant of the tokens file: its own Redis stack (exec/backend.ts), opened on its first request and closed when it
// has been idle for SLUICE_TENANT_IDLE_MS, within the process's SLUICE_MAX_REDIS_CONNECTIONS.
import type { ClockTimer } from '../clock.js';
import { SluiceError } from '../errors.js';
import { nameRefusal } from '../pubsub/hub.js';
import type { PubSubListener, SubscriptionKind } from '../pubsub/types.js';
import type { PreparedCommand } from '../redis/command.js';
import type { Outcome, RequestTiming } from '../redis/outcome.js';
import { createRedisTarget, describeTarget, type RedisTarget } from '../redis/target.js';
import { type Backend, openStack, type RedisStack, type StackShared, type StreamHub } from './backend.js';
import type { Affinity, NodeStats, RequestRunner, RunnerStats } from './request-runner.js';

const NO_STATS: RunnerStats = {
  main: { size: 0, ready: 0, inflight: 0, pendingReplyBytes: 0 },
  blocking: { size: 0, busy: 0, open: 0 },
};

/**
 * A tenant's backend: stable for the transports (it is its own RequestRunner and StreamHub) while the stack behind
 * it comes and goes. Requests that arrive while the stack opens wait for it, in order.
 */
export class TenantBackend implements Backend, RequestRunner, StreamHub {
  readonly tenant: string;
  readonly redisUrl: string;
  readonly target: RedisTarget;
  readonly #shared: StackShared;
  readonly #owner: string;
  #stack: RedisStack | undefined;
  #opening: Promise<RedisStack | SluiceError> | undefined;
  /** Requests and subscribes running or waiting for the stack to open. */
  #busy = 0;
  #lastUsed = 0;
  #closed = false;
  readonly #sweep: ClockTimer;

  constructor(tenant: string, redisUrl: string, shared: StackShared) {
    this.tenant = tenant;
    this.redisUrl = redisUrl;
    this.#shared = shared;
    this.#owner = ` of tenant "${tenant}"`;
    // The process's TLS settings apply to a rediss:// tenant; Sentinel and Cluster do not (config refuses tenants there).
    this.target = createRedisTarget(redisUrl, {
      ...shared.config,
      redisSentinels: undefined,
      redisClusterNodes: undefined,
    });
    const { clock, config } = shared;
    this.#sweep = clock.setInterval(() => this.#closeIfIdle(), Math.min(config.tenantIdleMs / 2, 10_000));
    this.#sweep.unref();
  }

  get requests(): RequestRunner {
    return this;
  }

  get hub(): StreamHub {
    return this;
  }

  /** Whether its connections are open (or opening). */
  get open(): boolean {
    return this.#stack !== undefined || this.#opening !== undefined;
  }

  pipeline(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    this.#run(
      answer,
      (stack, answered) => stack.requests.pipeline(items, timing, affinity, answered),
      (error) => items.map((item) => (item instanceof SluiceError ? item : error)),
    );
  }

  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    affinity: Affinity | undefined,
    answer: (result: Outcome[] | Error) => void,
  ): void {
    this.#run(
      answer,
      (stack, answered) => stack.requests.transaction(items, timing, affinity, answered),
      (error) => error,
    );
  }

  stats(): RunnerStats {
    return this.#stack?.requests.stats() ?? NO_STATS;
  }

  nodeStats(): NodeStats[] {
    return [];
  }

  unblockAll(): void {
    this.#stack?.requests.unblockAll();
  }

  idle(): Promise<void> {
    return this.#stack?.requests.idle() ?? Promise.resolve();
  }

  check(kind: SubscriptionKind, name: Buffer): SluiceError | undefined {
    // Closed: only the name can be judged now; the subscriber's own bounds are checked again when subscribing.
    return this.#stack ? this.#stack.hub.check(kind, name) : nameRefusal(kind, name);
  }

  async connect(): Promise<void> {
    const done = this.#enter();
    try {
      const stack = await this.#stackNow();
      if (stack instanceof SluiceError) throw stack;
      await stack.hub.connect();
    } finally {
      done();
    }
  }

  async subscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): Promise<void> {
    const done = this.#enter();
    try {
      const stack = await this.#stackNow();
      if (stack instanceof SluiceError) throw stack;
      await stack.hub.subscribe(kind, name, listener);
    } finally {
      done();
    }
  }

  unsubscribe(kind: SubscriptionKind, name: Buffer, listener: PubSubListener): void {
    this.#stack?.hub.unsubscribe(kind, name, listener);
  }

  unsubscribeAll(listener: PubSubListener): void {
    this.#stack?.hub.unsubscribeAll(listener);
  }

  noteDropped(count?: number): void {
    this.#stack?.hub.noteDropped(count);
  }

  /** Subscriber stats of the open stack (zeros when closed). */
  pubsubStats(): ReturnType<RedisStack['hub']['stats']> | undefined {
    return this.#stack?.hub.stats();
  }

  /** Closes its connections for good (the tenant left the tokens file, or the broker closes). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#shared.clock.clearInterval(this.#sweep);
    const stack = this.#stack ?? (await this.#opening);
    this.#stack = undefined;
    if (stack && !(stack instanceof SluiceError)) await stack.close();
  }

  /** Counts a use until `done` is called, so the stack is not closed under it. */
  #enter(): () => void {
    this.#busy++;
    this.#lastUsed = this.#shared.clock.now();
    let counted = true;
    return () => {
      if (!counted) return;
      counted = false;
      this.#busy--;
      this.#lastUsed = this.#shared.clock.now();
    };
  }

  /**
   * Starts a request on the stack (opening it first when closed), counted as a use until it is answered; `failed`
   * makes the answer when the stack cannot open.
   */
  #run<T>(
    answer: (result: T) => void,
    start: (stack: RedisStack, answered: (result: T) => void) => void,
    failed: (error: SluiceError) => T,
  ): void {
    const done = this.#enter();
    const answered = (result: T) => {
      done();
      answer(result);
    };
    const stack = this.#stackNow();
    if (!(stack instanceof Promise)) return start(stack, answered);
    void stack.then((opened) =>
      opened instanceof SluiceError ? answered(failed(opened)) : start(opened, answered),
    );
  }

  /** The open stack, or opens it: takes the main pool's connections from the budget, then connects them. */
  #stackNow(): RedisStack | Promise<RedisStack | SluiceError> {
    if (this.#stack) return this.#stack;
    if (this.#closed)
      return Promise.resolve(
        new SluiceError('SLUICE_ERR_DRAINING', `ERR tenant "${this.tenant}" is closing; retry`),
      );
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<RedisStack | SluiceError> {
    const { config, budget, logger } = this.#shared;
    const refused = budget.take(
      `the main pool${this.#owner} (SLUICE_TENANT_POOL_SIZE=${config.tenantPoolSize})`,
      config.tenantPoolSize,
    );
    if (refused) {
      this.#shared.telemetry.refused('redis_unavailable');
      return refused;
    }
    const stack = openStack(
      {
        target: this.target,
        poolSize: config.tenantPoolSize,
        blockingPoolSize: config.tenantBlockingPoolSize,
        blockingSizeSetting: 'SLUICE_TENANT_BLOCKING_POOL_SIZE',
        owner: this.#owner,
      },
      { ...this.#shared, logger: logger.child({ tenant: this.tenant }) },
    );
    // A Redis that is down keeps the stack: its requests fail fast until it is back, as for the broker's own Redis.
    await stack.pool.start();
    if (this.#closed) {
      await stack.close();
      return new SluiceError('SLUICE_ERR_DRAINING', `ERR tenant "${this.tenant}" is closing; retry`);
    }
    this.#stack = stack;
    logger.info(
      { event: 'tenant_opened', tenant: this.tenant, redis: describeTarget(this.target) },
      "opened a tenant's connections",
    );
    return stack;
  }

  #closeIfIdle(): void {
    const stack = this.#stack;
    if (!stack || this.#busy > 0) return;
    if (this.#shared.clock.now() - this.#lastUsed < this.#shared.config.tenantIdleMs) return;
    if (stack.hub.stats().listeners > 0 || stack.blocking.stats().busy > 0 || stack.pool.stats().inflight > 0)
      return;
    this.#stack = undefined;
    this.#shared.logger.info(
      { event: 'tenant_idle_closed', tenant: this.tenant },
      "closed an idle tenant's connections (SLUICE_TENANT_IDLE_MS)",
    );
    void stack.close();
  }
}
