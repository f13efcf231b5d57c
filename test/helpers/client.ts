// Assertions shared by the thin client's tests.
import { SluiceError } from '../../client/index.js';

/** The SluiceError `p` rejects with; throws when it resolves or rejects with anything else. */
export async function rejects(p: Promise<unknown>): Promise<SluiceError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof SluiceError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}
