import { type CodedError, isCodedError } from '../common/index.ts';

/** The CodedError `p` rejects with; anything else thrown, or no rejection, fails the test. */
export async function rejection(p: Promise<unknown>): Promise<CodedError> {
  try {
    await p;
  } catch (err) {
    if (isCodedError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}
