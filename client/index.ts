// The Sluice client for functions: zero dependencies, ESM; see client/README.md.

export type { Arg } from './args.js';
export type {
  Client,
  ClientMethods,
  ClientOptions,
  CommandFn,
  SubscribeOptions,
  Unsubscribe,
} from './client.js';
export { createClient } from './client.js';
export type { CommandName } from './commands.js';
export type { BinaryValue, Value } from './decode.js';
export { CLIENT_CODES, SluiceError } from './errors.js';
export type { FetchLike } from './http-transport.js';
export type { Pipeline, PipelineMethods } from './pipeline.js';
export type { WebSocketConstructor, WebSocketEventLike, WebSocketLike } from './ws-transport.js';
