// Runs requests on a Redis Cluster through ioredis's Cluster: per-command slot routing, MULTI pinned to one slot's node.
import { type Cluster, Command, type Redis, ReplyError } from 'ioredis';
import type { Admission } from './admission.js';
import { type Clock, realClock } from '../clock.js';
import { SluiceError } from '../errors.js';
import type { Affinity, NodeStats, RequestRunner, RunnerStats } from './request-runner.js';
import { execResult, mergeOutcomes, sendableOf } from './request-outcomes.js';
import { settleCommands, TimeoutGroup } from '../redis/settle.js';
import { type Outcome, outcomeOf, type RequestTiming } from '../redis/outcome.js';
import type { PreparedCommand } from '../redis/command.js';
import type { CommandOutcome, Telemetry } from '../telemetry.js';
import type { BlockingPool } from '../redis/blocking-pool.js';
import type { RedisAddress } from '../redis/target.js';

/** Redis's own reply when a request's keys span slots (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/). */
const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

/** What the cluster executor needs beyond the Cluster client. */
export interface ClusterExecutorOptions {
  readonly commandTimeoutMs: number;
  /**
   * Builds the blocking pool of one primary (`host:port`), given a way to reach that primary for CLIENT UNBLOCK.
   */
  readonly blockingPool: (node: RedisAddress, control: () => Redis | undefined) => BlockingPool;
  /** Times commands and arms their timeouts; the real clock by default. */
  readonly clock?: Clock | undefined;
}

/**
 * The cluster counterpart of Executor, chosen in broker.ts when SLUICE_REDIS_CLUSTER_NODES is set; the standalone
 * hot path is untouched. A pipeline's commands are each routed by ioredis to their slot's primary, so a pipeline
 * spanning slots is split per node and reassembled in order with per-item errors, and MOVED/ASK/TRYAGAIN are
 * followed per command by ioredis (nothing ran, so re-sending is safe). Commands on one node keep their order
 * (one connection per node); across nodes they run concurrently. A transaction must stay in one slot (else
 * CROSSSLOT, as Redis says) and runs as MULTI…EXEC on that slot's primary. A blocking command sent alone runs on
 * its slot primary's own bounded blocking pool.
 */
export class ClusterExecutor implements RequestRunner {
  readonly #cluster: Cluster;
  readonly #admission: Admission;
  readonly #telemetry: Telemetry;
  readonly #options: ClusterExecutorOptions;
  readonly #clock: Clock;
  /** One bounded blocking pool per primary, opened on the first blocking command for it. */
  readonly #blocking = new Map<string, BlockingPool>();

  constructor(cluster: Cluster, admission: Admission, telemetry: Telemetry, options: ClusterExecutorOptions) {
    this.#cluster = cluster;
    this.#admission = admission;
    this.#telemetry = telemetry;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
  }

  /** Main connections are the primaries the client holds (one each); blocking ones are summed over every primary. */
  stats(): RunnerStats {
    const primaries = this.#cluster.nodes('master');
    const ready = primaries.filter((n) => n.status === 'ready').length;
    return {
      main: { size: primaries.length, ready, inflight: 0, pendingReplyBytes: 0 },
      blocking: this.#blockingStats(),
    };
  }

  /** Connections per primary node, by pool and state (bounded by the cluster's size). */
  nodeStats(): NodeStats[] {
    const rows: NodeStats[] = [];
    for (const primary of this.#cluster.nodes('master')) {
      const node = `${primary.options.host}:${primary.options.port}`;
      rows.push({ node, pool: 'main', state: primary.status === 'ready' ? 'ready' : 'down', count: 1 });
    }
    for (const [node, pool] of this.#blocking) {
      const { busy, open } = pool.stats();
      rows.push(
        { node, pool: 'blocking', state: 'busy', count: busy },
        { node, pool: 'blocking', state: 'idle', count: open - busy },
      );
    }
    return rows;
  }

  /** Ends every running block early (nil replies), for draining. */
  unblockAll(): void {
    for (const pool of this.#blocking.values()) pool.unblockAll();
  }

  /** Resolves when no blocking command runs. */
  async idle(): Promise<void> {
    await Promise.all([...this.#blocking.values()].map((pool) => pool.idle()));
  }

  /** Closes the blocking pools. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#blocking.values()].map((pool) => pool.close()));
  }

  /** Blocking connections open and busy over all primaries, against the bound of all their pools. */
  #blockingStats(): { size: number; busy: number; open: number } {
    let size = 0;
    let busy = 0;
    let open = 0;
    for (const pool of this.#blocking.values()) {
      const stats = pool.stats();
      size += stats.size;
      busy += stats.busy;
      open += stats.open;
    }
    return { size, busy, open };
  }

  pipeline(
    items: readonly (PreparedCommand | SluiceError)[],
    timing: RequestTiming,
    _affinity: Affinity | undefined,
    answer: (outcomes: Outcome[]) => void,
  ): void {
    void this.#pipeline(items, timing).then(answer);
  }

  transaction(
    items: readonly PreparedCommand[],
    timing: RequestTiming,
    _affinity: Affinity | undefined,
    answer: (result: Outcome[] | Error) => void,
  ): void {
    void this.#transaction(items, timing).then(answer);
  }

  #pipeline(items: readonly (PreparedCommand | SluiceError)[], timing: RequestTiming): Promise<Outcome[]> {
    const only = items[0];
    if (
      items.length === 1 &&
      only !== undefined &&
      !(only instanceof SluiceError) &&
      only.route === 'blocking'
    )
      return this.#runBlocking(only, timing).then((outcome) => [outcome]);
    const refusal = blockingRefusal(items);
    if (refusal) {
      this.#telemetry.refused('command_refused');
      return Promise.resolve(items.map((item) => (item instanceof SluiceError ? item : refusal)));
    }
    const sendable = sendableOf(items);
    if (sendable.length === 0) return Promise.resolve(items as SluiceError[]);
    return this.#admitted(
      sendable.length,
      timing,
      () => {
        const commands = sendable.map((item) => new Command(item.wireName, item.args));
        for (const command of commands) void this.#cluster.sendCommand(command);
        return commands;
      },
      sendable,
    ).then((outcomes) => mergeOutcomes(items, sendable, outcomes));
  }

  #transaction(items: readonly PreparedCommand[], timing: RequestTiming): Promise<Outcome[] | Error> {
    const refusal = blockingRefusal(items);
    if (refusal) return Promise.resolve(refusal);
    const commands = items.map((item) => new Command(item.wireName, item.args));
    let slot: number | undefined;
    for (const command of commands) {
      const own = command.getSlot();
      if (own === null || own === undefined) continue;
      if (slot !== undefined && own !== slot) return Promise.resolve(new ReplyError(CROSSSLOT));
      slot = own;
    }
    const labels = ['multi', ...items.map((item) => item.label), 'exec'];
    return this.#admitted(
      labels.length,
      timing,
      () => {
        const node = this.#primaryFor(slot);
        if (!node) return unavailable('no connection to the primary of the transaction slot is up');
        const all = [new Command('MULTI', []), ...commands, new Command('EXEC', [])];
        // Written straight to the slot's primary: ioredis's redirection logic works per command and would move
        // queued commands away from their MULTI. A MOVED while queueing aborts the whole EXEC (nothing ran).
        for (const command of all) void node.sendCommand(command);
        return all;
      },
      labels,
    ).then((outcomes) =>
      execResult(items, outcomes, (error) => {
        // The slot moved between our routing and Redis's check: EXECABORT guarantees nothing ran.
        if (!/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(error.message)) return error;
        this.#cluster.refreshSlotsCache();
        return new SluiceError(
          'SLUICE_ERR_REDIS_UNAVAILABLE',
          `ERR the transaction's slot is moving between cluster nodes (${error.message.split(' ')[0]}); nothing ran, retry`,
        );
      }),
    );
  }

  /**
   * A blocking command runs on its slot primary's blocking pool (one command per connection, as standalone). A
   * redirection means the slot moved and nothing ran: a retryable 503 after refreshing the slot map.
   */
  async #runBlocking(item: PreparedCommand, timing: RequestTiming): Promise<Outcome> {
    const slot = new Command(item.wireName, item.args).getSlot();
    const key = slot === null || slot === undefined ? undefined : this.#cluster.slots[slot]?.[0];
    const at = key?.lastIndexOf(':') ?? -1;
    if (key === undefined || at === -1 || this.#cluster.status !== 'ready')
      return unavailable('the primary of the blocking command slot is not known yet');
    let pool = this.#blocking.get(key);
    if (!pool) {
      const node = { host: key.slice(0, at), port: Number(key.slice(at + 1)) };
      pool = this.#options.blockingPool(node, () => this.#primaryFor(slot ?? undefined));
      this.#blocking.set(key, pool);
    }
    const outcome = await pool.run(item, timing);
    const redirected = outcome instanceof Error && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.exec(outcome.message);
    if (redirected) {
      this.#cluster.refreshSlotsCache();
      return unavailable(`the slot is moving between cluster nodes (${redirected[1]})`);
    }
    return outcome;
  }

  /** The primary serving `slot` (any primary for key-less transactions), when its connection is usable. */
  #primaryFor(slot: number | undefined): Redis | undefined {
    const primaries = this.#cluster.nodes('master');
    if (slot === undefined) return primaries.find((n) => n.status === 'ready') ?? primaries[0];
    const key = this.#cluster.slots[slot]?.[0];
    if (key === undefined) return undefined;
    return primaries.find((n) => `${n.options.host}:${n.options.port}` === key);
  }

  /**
   * Admission, then `write` (which sends and returns the commands, or a refusal), then waits for every reply or
   * the command timeout. Resolves with one outcome per written command.
   */
  #admitted(
    count: number,
    timing: RequestTiming,
    write: () => Command[] | SluiceError,
    labelled: readonly (PreparedCommand | string)[],
  ): Promise<Outcome[]> {
    return new Promise<Outcome[]>((answer) => {
      const fail = (error: unknown) => answer(new Array<Outcome>(count).fill(clusterOutcomeOf(error).error));
      this.#admission.enter(
        timing,
        (leave) => {
          const refuse = (error: SluiceError) => {
            leave();
            fail(error);
          };
          const written = this.#clock.now();
          if (written >= timing.deadline) {
            return refuse(
              new SluiceError(
                'SLUICE_ERR_DEADLINE_EXPIRED',
                'ERR the request deadline passed before its commands were sent; nothing was sent',
              ),
            );
          }
          if (this.#cluster.status !== 'ready') {
            this.#telemetry.refused('redis_unavailable');
            return refuse(unavailable('the cluster client is not ready'));
          }
          let commands: Command[] | SluiceError;
          try {
            commands = write();
          } catch (error) {
            leave();
            return fail(error);
          }
          if (commands instanceof SluiceError) {
            this.#telemetry.refused('redis_unavailable');
            return refuse(commands);
          }
          const labels = labelled.map((l) => (typeof l === 'string' ? l : l.label));
          const timeoutMs = Math.max(0, Math.min(this.#options.commandTimeoutMs, timing.deadline - written));
          settleCommands(
            commands,
            {
              labels,
              written,
              timeoutMs,
              timeouts: new TimeoutGroup(timeoutMs, written, this.#clock),
              telemetry: this.#telemetry,
              classify: clusterOutcomeOf,
            },
            answer,
            leave,
          );
        },
        fail,
        (seconds) => this.#telemetry.queueWaited(seconds),
      );
    });
  }
}

function unavailable(why: string): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_REDIS_UNAVAILABLE',
    `ERR Redis is unavailable (${why}); nothing was sent`,
  );
}

/** A refusal for blocking commands inside pipelines or transactions. */
function blockingRefusal(items: readonly (PreparedCommand | SluiceError)[]): SluiceError | undefined {
  const blocking = items.find((item) => !(item instanceof SluiceError) && item.route === 'blocking');
  if (!blocking || blocking instanceof SluiceError) return undefined;
  return new SluiceError(
    'SLUICE_ERR_COMMAND_REFUSED',
    `ERR ${blocking.name.toUpperCase()} blocks a connection: send it alone, not in a pipeline or transaction (it runs on its node's blocking pool)`,
  );
}

/**
 * Like outcomeOf, plus the Cluster client's own refusals: ioredis rejects before writing when it has no usable
 * node ("Cluster isn't ready", "Stream isn't writeable", too many redirections), so those are retryable 503s.
 */
function clusterOutcomeOf(error: unknown): { error: Error; outcome: CommandOutcome } {
  if (
    error instanceof Error &&
    !(error instanceof ReplyError) &&
    !(error instanceof SluiceError) &&
    /isn't ready|isn't writeable|Too many Cluster redirections|Failed to refresh slots cache/.test(
      error.message,
    )
  ) {
    return { error: unavailable(error.message), outcome: 'unavailable' };
  }
  return outcomeOf(error);
}
