// The JSON logger (pino on stderr): one root logger, child loggers per connection or request. Never log tokens or values.
import { type DestinationStream, pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { DestinationStream, Logger };

/**
 * A stream the process writes lines to (stderr for its log, stdout for its start line), given an error listener for
 * the process's whole life. When the stream fails — EPIPE: its reader went away (a killed supervisor or log shipper) —
 * the error stays the stream's: it never reaches the process guard, whose own log line would fail the same way, again
 * and again (Node's stdio streams are never destroyed, so each write fails anew). Every later line is dropped: there
 * is nothing to write it to. `onLost` is called once, at the first error.
 */
export function guardOutput(
  stream: NodeJS.WritableStream,
  onLost: (error: Error) => void = () => {},
): DestinationStream {
  let lost = false;
  stream.on('error', (error: Error) => {
    if (lost) return;
    lost = true;
    onLost(error);
  });
  return {
    write(text: string) {
      if (!lost) stream.write(text);
    },
  };
}

/**
 * Creates the root logger writing JSON lines to `destination`: the entry point passes stderr through `guardOutput`;
 * raw stderr by default (tests).
 */
export function createLogger(level: LogLevel, destination: DestinationStream = process.stderr): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
