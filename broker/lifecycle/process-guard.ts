// The process's last line of defence: an error that reached no listener of its own is logged and counted.
import type { Logger } from '../log.js';
import type { GuardedKind } from '../telemetry.js';

/** Errors of a peer's socket: the peer went away; nothing in the process is broken by it. */
const SOCKET_ERROR_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Installs the process-level guards. They are not how errors are handled — every socket has a listener of its own
 * (http/socket-errors.ts) — but what keeps one missed listener from dropping every client's connection:
 * - an unhandled rejection is logged and counted (Node 20 would exit);
 * - an uncaught socket error is logged and counted, and the process goes on;
 * - any other uncaught exception is logged and counted, and the process exits 1 as Node would (its state is
 *   unknown; a worker is restarted by the primary, a single process by its supervisor).
 * `count` is called for each, before anything else.
 */
export function installProcessGuards(logger: Logger, count: (kind: GuardedKind) => void): void {
  process.on('unhandledRejection', (reason) => {
    count('unhandled_rejection');
    tryToLog(() =>
      logger.error(
        { err: reason, event: 'unhandled_rejection' },
        'unhandled promise rejection (a bug: please report it)',
      ),
    );
  });
  process.on('uncaughtException', (error: NodeJS.ErrnoException) => {
    count('uncaught_exception');
    if (error.code !== undefined && SOCKET_ERROR_CODES.has(error.code)) {
      tryToLog(() =>
        logger.error(
          { err: error, event: 'uncaught_socket_error' },
          'a socket error reached no listener (a bug: please report it); the process goes on',
        ),
      );
      return;
    }
    tryToLog(() => logger.fatal({ err: error, event: 'uncaught_exception' }, 'uncaught exception: exiting'));
    process.exit(1);
  });
}

/**
 * Logs, or gives up when logging throws (a log stream that fails synchronously): thrown inside an uncaughtException
 * handler it would end the process (exit 7), and a second report of it would only fail the same way.
 */
function tryToLog(log: () => void): void {
  try {
    log();
  } catch {
    // Nothing to write it to; it was counted.
  }
}
