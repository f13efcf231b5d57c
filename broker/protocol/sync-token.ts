// The `upstash-sync-token` response header: a fresh value on every response, unique across processes.
import { randomBytes } from 'node:crypto';

/** Issues sync tokens `<random process id>-<counter>`; every call returns a new value. */
export function createSyncTokens(): () => string {
  const prefix = randomBytes(6).toString('hex');
  let counter = 0;
  return () => `${prefix}-${(++counter).toString(36)}`;
}
