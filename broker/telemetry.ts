// The events the broker reports as they happen. metrics/ implements this; the default does nothing.

/** How one command ended, for the command-outcome metric. */
export type CommandOutcome = 'ok' | 'redis_error' | 'timeout' | 'connection_lost' | 'unavailable' | 'refused';

/** Why a request or command was refused before reaching Redis. */
export type RefusalReason =
  | 'queue_full'
  | 'queue_timeout'
  | 'deadline_expired'
  | 'redis_unavailable'
  | 'draining'
  | 'noperm'
  | 'command_refused'
  | 'auth'
  | 'bad_request'
  | 'too_large'
  | 'blocking_pool_full'
  | 'ws_limit'
  | 'subscriber_overflow'
  /** A client's reading was paused over SLUICE_CLIENT_/TOKEN_MAX_PENDING_BYTES: slowed, not refused. */
  | 'reply_bytes_throttled'
  /** A request's replies passed SLUICE_MAX_REPLY_BYTES: its later replies were dropped (counted once per request). */
  | 'reply_too_large'
  /** A token or tenant was over one of its quotas (by kind: sluice_quota_refusals_total). */
  | 'quota';

/** Which quota a refusal was over. */
export type QuotaKind = 'requests' | 'commands' | 'inflight' | 'sockets';

/**
 * How a read that a replica could serve was served (issue 20): by the replica at once or after waiting for it to
 * reach the read's sync position, or by the primary (the wait ran out, the replica is down or lags, or the position
 * cannot be reached on the replica). `bad_token` counts reads whose token did not verify, in addition.
 */
export type ReplicaReadOutcome = 'immediate' | 'waited' | 'primary_fallback' | 'unsatisfiable' | 'bad_token';

/**
 * What the process guards count: a thrown error no one caught or a rejected promise no one handled (they reached the
 * process guard: a bug), or stdout or stderr lost (it failed, its reader gone; counted once per stream by the stream's
 * own listener, log.ts guardOutput: what the process writes there afterwards is dropped).
 */
export type GuardedKind = 'uncaught_exception' | 'unhandled_rejection' | 'output_lost';

/** Hooks called on the hot path; implementations must be cheap and must not throw. */
export interface Telemetry {
  /** A pipelined write of `commands` commands went to a main-pool connection. */
  batchWritten(commands: number): void;
  /** A command settled after `seconds`; `command` is a lower-case name Redis knows, or `other`. */
  commandDone(command: string, seconds: number, outcome: CommandOutcome): void;
  /** A request waited `seconds` in the admission queue before it ran. */
  queueWaited(seconds: number): void;
  refused(reason: RefusalReason): void;
  /** An HTTP response was sent; `route` is one of the known routes. */
  httpResponse(route: string, status: number): void;
  /** A Redis connection of `pool` started reconnecting. */
  redisReconnect(pool: string): void;
  /** A request, socket or stream was refused over a quota; `tenant` is the tenant's name, or `default`. */
  quotaRefused(kind: QuotaKind, tenant: string): void;
  /** The tokens file was read again (on change or SIGHUP): taken, the same as before, or refused (the last good kept). */
  tokensReloaded(outcome: TokensReloadOutcome): void;
  /** A read a replica could serve was served this way (read regions). */
  replicaRead(outcome: ReplicaReadOutcome): void;
  /** A read waited `seconds` for the replica to reach its sync position (whatever came of it). */
  syncWaited(seconds: number): void;
  /** The replica watcher polled the replica once. */
  watcherPolled(): void;
}

/** How a reload of the tokens file ended. */
export type TokensReloadOutcome = 'applied' | 'unchanged' | 'failed';

/** Telemetry that records nothing (metrics disabled, and tests of single modules). */
export const NO_TELEMETRY: Telemetry = {
  batchWritten() {},
  commandDone() {},
  queueWaited() {},
  refused() {},
  httpResponse() {},
  redisReconnect() {},
  quotaRefused() {},
  tokensReloaded() {},
  replicaRead() {},
  syncWaited() {},
  watcherPolled() {},
};
