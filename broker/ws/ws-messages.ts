// The /ws protocol as pure functions: a text frame → a typed request or error, and replies/pushes → JSON text.
import type { RequestId } from '../../client/wire.js';
import { SluiceError } from '../errors.js';
import type { Outcome } from '../redis/outcome.js';
import { errorBody, itemsJson } from '../protocol/items.js';
import type { SubscriptionKind } from '../pubsub/types.js';
import { replyJson } from '../protocol/reply.js';
import { type Arg, parseCommand, parseCommandList, readPlainCommand } from '../protocol/request.js';

/** The operations a request can carry, exactly one per frame. */
export const OPS = [
  'cmd',
  'pipeline',
  'multi',
  'subscribe',
  'psubscribe',
  'unsubscribe',
  'punsubscribe',
] as const;
export type Op = (typeof OPS)[number];

/** The largest `deadlineMs` accepted (as for the Sluice-Deadline-Ms header). */
export const MAX_DEADLINE_MS = 999_999_999;

/** A request that runs commands: one (`cmd`), a pipeline, or a transaction. */
export interface CommandRequest {
  readonly kind: 'commands';
  readonly op: 'cmd' | 'pipeline' | 'multi';
  /** The id as JSON text, ready to echo. */
  readonly idJson: string;
  readonly commands: Arg[][];
  readonly deadlineMs: number | undefined;
}

/** A subscribe/unsubscribe request. An empty `names` list on unsubscribe means every name of that kind. */
export interface SubscriptionRequest {
  readonly kind: 'subscription';
  readonly op: 'subscribe' | 'psubscribe' | 'unsubscribe' | 'punsubscribe';
  readonly subscriptionKind: SubscriptionKind;
  readonly idJson: string;
  readonly names: string[];
}

/** A frame with an id whose request is wrong: answered with an error reply, the socket stays open. */
export interface RefusedRequest {
  readonly kind: 'refused';
  readonly idJson: string;
  readonly error: SluiceError;
}

/** A frame that cannot be answered (no id, not JSON): the socket is closed with `error`'s close code. */
export interface FatalFrame {
  readonly kind: 'fatal';
  readonly error: SluiceError;
}

export type ParsedFrame = CommandRequest | SubscriptionRequest | RefusedRequest | FatalFrame;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function badFrame(message: string): FatalFrame {
  return { kind: 'fatal', error: new SluiceError('SLUICE_ERR_WS_BAD_FRAME', `ERR ${message}`) };
}

function badRequest(message: string): SluiceError {
  return new SluiceError('SLUICE_ERR_WS_BAD_REQUEST', `ERR ${message}`);
}

function isRequestId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function parseNames(value: unknown, op: Op, allowEmpty: boolean): string[] {
  if (!Array.isArray(value) || !value.every((name) => typeof name === 'string'))
    throw badRequest(`${op}: expected an array of names such as ["news"], got ${describe(value)}`);
  if (value.length === 0 && !allowEmpty) throw badRequest(`${op}: expected at least one name`);
  return value as string[];
}

function parseDeadline(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_DEADLINE_MS)
    throw badRequest(
      `deadlineMs: expected a positive whole number of milliseconds, got ${JSON.stringify(value)}`,
    );
  return value;
}

/** The frame's one operation; throws when it has none or several. Allocates nothing on the way to the answer. */
function onlyOp(frame: Record<string, unknown>): Op {
  let found: Op | undefined;
  for (const op of OPS) {
    if (frame[op] === undefined) continue;
    if (found !== undefined) {
      const ops = OPS.filter((o) => frame[o] !== undefined);
      throw badRequest(`expected one operation per frame, got ${ops.join(' and ')}`);
    }
    found = op;
  }
  if (found === undefined)
    throw badRequest(`expected one of ${OPS.join(', ')}; got the fields ${Object.keys(frame).join(', ')}`);
  return found;
}

/** How a plain `cmd` frame starts (see plainCmd). */
const PLAIN_CMD_HEAD = '{"id":';
const PLAIN_CMD_MIDDLE = ',"cmd":[';
/** Whole-number ids of up to 15 digits are exact doubles whose String() is their text. */
const MAX_PLAIN_ID_DIGITS = 15;

/**
 * The frame most requests are, `{"id":7,"cmd":["GET","k"]}` as JSON.stringify writes it: no spaces, a whole-number
 * id without leading zeros, plain strings (readPlainCommand). Read by hand into what the general way below returns
 * for it; anything else returns undefined and goes the general way.
 */
function plainCmd(text: string): CommandRequest | undefined {
  if (!text.startsWith(PLAIN_CMD_HEAD)) return undefined;
  const idStart = PLAIN_CMD_HEAD.length;
  let i = idStart;
  if (text.charCodeAt(i) === 0x30) i++;
  else {
    for (let c = text.charCodeAt(i); c >= 0x30 && c <= 0x39; c = text.charCodeAt(i)) i++;
  }
  if (i === idStart || i - idStart > MAX_PLAIN_ID_DIGITS || !text.startsWith(PLAIN_CMD_MIDDLE, i))
    return undefined;
  // the text ends with `]}`
  const last = text.length - 1;
  const args =
    text.charCodeAt(last) === 0x7d
      ? readPlainCommand(text, i + PLAIN_CMD_MIDDLE.length, last - 1)
      : undefined;
  if (args === undefined) return undefined;
  return {
    kind: 'commands',
    op: 'cmd',
    idJson: text.slice(idStart, i),
    commands: [args],
    deadlineMs: undefined,
  };
}

/**
 * Parses one text frame. `maxCommands` bounds pipelines and transactions (SLUICE_MAX_PIPELINE_COMMANDS). Never
 * throws: a bad request with an id becomes `refused`, a frame without one `fatal`.
 */
export function parseFrame(text: string, maxCommands: number): ParsedFrame {
  return plainCmd(text) ?? parseJsonFrame(text, maxCommands);
}

/** parseFrame's general way, for any frame (exported for the test that holds plainCmd to it). */
export function parseJsonFrame(text: string, maxCommands: number): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return badFrame(`expected a JSON object per frame: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return badFrame(`expected a JSON object such as {"id":1,"cmd":["GET","k"]}, got ${describe(value)}`);
  const frame = value as Record<string, unknown>;
  if (!isRequestId(frame.id))
    return badFrame(`expected "id" to be a number or a string, got ${describe(frame.id)}`);
  // A finite number's JSON is its String(); only string ids need quoting and escaping.
  const idJson = typeof frame.id === 'number' ? String(frame.id) : JSON.stringify(frame.id);
  try {
    const op = onlyOp(frame);
    const body = frame[op];
    switch (op) {
      case 'cmd':
      case 'pipeline':
      case 'multi': {
        const encoding = frame.argEncoding;
        if (encoding !== undefined && encoding !== 'base64')
          throw badRequest(`argEncoding: expected "base64", got ${JSON.stringify(encoding)}`);
        const base64 = encoding === 'base64';
        const deadlineMs = parseDeadline(frame.deadlineMs);
        const commands =
          op === 'cmd' ? [parseCommand(body, 'cmd', base64)] : parseCommandList(body, maxCommands, base64);
        return { kind: 'commands', op, idJson, commands, deadlineMs };
      }
      default: {
        const subscribing = op === 'subscribe' || op === 'psubscribe';
        return {
          kind: 'subscription',
          op,
          subscriptionKind: op === 'subscribe' || op === 'unsubscribe' ? 'channel' : 'pattern',
          idJson,
          names: parseNames(body, op, !subscribing),
        };
      }
    }
  } catch (error) {
    if (error instanceof SluiceError) return { kind: 'refused', idJson, error };
    throw error;
  }
}

/** `{"id":…,"result":…}` for one reply. */
export function resultFrame(idJson: string, reply: Outcome, base64: boolean): string {
  return `{"id":${idJson},"result":${replyJson(reply, base64)}}`;
}

/** `{"id":…,"result":[…]}` for a subscription acknowledgement (the socket's counts after each name). */
export function countsFrame(idJson: string, counts: readonly number[]): string {
  return `{"id":${idJson},"result":[${counts.join(',')}]}`;
}

/** `{"id":…,"error":"…","code":"…"}`; Redis's own errors carry SLUICE_ERR_REDIS. `idJson` may be `null`. */
export function errorFrame(idJson: string, error: Error): string {
  // errorBody is `{"error":…,"code":…}`: splice the id in front rather than serialising twice.
  return `{"id":${idJson},${errorBody(error).slice(1)}`;
}

/** `{"id":…,"results":[{"result":…},{"error":…,"code":…}]}` for a pipeline or transaction. */
export function resultsFrame(idJson: string, outcomes: readonly Outcome[], base64: boolean): string {
  return `{"id":${idJson},"results":${itemsJson(outcomes, base64)}}`;
}

/**
 * A pub/sub push. Channel and pattern names are shown as UTF-8 text (they were sent as JSON strings); `data` follows
 * the socket's encoding, base64 of the raw bytes when it asked for `?encoding=base64`.
 */
export function pushFrame(
  message: { channel: Buffer; data: Buffer; pattern?: Buffer | undefined },
  base64: boolean,
): string {
  const data = base64
    ? `"${message.data.toString('base64')}"`
    : JSON.stringify(message.data.toString('utf8'));
  const channel = JSON.stringify(message.channel.toString('utf8'));
  if (message.pattern === undefined) return `{"type":"message","channel":${channel},"data":${data}}`;
  return `{"type":"pmessage","pattern":${JSON.stringify(message.pattern.toString('utf8'))},"channel":${channel},"data":${data}}`;
}

/** Whether the upgrade query asks for base64 replies (`encoding=base64`). */
export function wantsBase64(query: string): boolean {
  if (query === '') return false;
  for (const part of query.split('&')) {
    if (part.toLowerCase() === 'encoding=base64') return true;
  }
  return false;
}
