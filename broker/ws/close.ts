// How an error closes a WebSocket: its close code and reason, and the catalogue error for each error `ws` reports.
import { ERROR_CATALOGUE, type ErrorSpec, SluiceError } from '../errors.js';

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of which hold the close code. */
const MAX_REASON_BYTES = 123;

/** A close reason starting with the catalogue code, cut to what a close frame can carry. */
export function closeReason(error: SluiceError): string {
  let reason = `${error.code} ${error.message.replace(/^ERR /, '')}`;
  while (Buffer.byteLength(reason) > MAX_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}

/** The close code an error ends a socket with: its catalogue `wsClose`, else 1011 (internal error). */
export function closeCodeOf(error: Error): number {
  if (error instanceof SluiceError) {
    const spec: ErrorSpec = ERROR_CATALOGUE[error.code];
    if (spec.wsClose !== undefined && spec.wsClose !== 1006) return spec.wsClose;
  }
  return 1011;
}

/** What `ws`'s receiver fails with: an Error whose `code` is one of its WS_ERR_* codes. */
export type WsReceiverError = Error & { code?: string };

/** What bounds a reader error names: the settings behind `ws`'s limits. */
export interface ReaderLimits {
  /** SLUICE_WS_MAX_FRAME_BYTES (ws's maxPayload). */
  readonly maxFrameBytes: number;
  /** ws's maxFragments: fragments of one message. */
  readonly maxFragments: number;
  /** ws's maxBufferedChunks: reads held while a frame is incomplete (SLUICE_WS_MAX_FRAME_BYTES / 400). */
  readonly maxBufferedChunks: number;
}

/**
 * The catalogue error for an error `ws`'s receiver failed a socket with (ws's lib/receiver.js). Each keeps the close
 * code ws gives it: 1009 for a message over maxPayload, 1007 for bad UTF-8, 1008 for too many fragments or reads,
 * 1002 for everything else that breaks RFC 6455.
 */
export function readerError(error: WsReceiverError, limits: ReaderLimits): SluiceError {
  switch (error.code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return new SluiceError(
        'SLUICE_ERR_WS_FRAME_TOO_LARGE',
        `ERR a message over ${limits.maxFrameBytes} bytes (SLUICE_WS_MAX_FRAME_BYTES)`,
      );
    case 'WS_ERR_INVALID_UTF8':
      return new SluiceError('SLUICE_ERR_WS_BAD_UTF8', 'ERR text message or close reason is not valid UTF-8');
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      return new SluiceError(
        'SLUICE_ERR_WS_TOO_MANY_PARTS',
        `ERR a message in more than ${limits.maxFragments} fragments, or a frame in more than ${limits.maxBufferedChunks} reads (SLUICE_WS_MAX_FRAME_BYTES / 400)`,
      );
    default:
      return new SluiceError('SLUICE_ERR_WS_PROTOCOL', `ERR ${error.message} (${error.code ?? 'no code'})`);
  }
}
