// What several route groups share: the staker key check and the pagination envelope.
import { CodedError, parseXOnlyKey } from '../../common/index.ts';
import type { ApiErrorCode } from '../errors.ts';

// The curve check itself is remembered for recent keys (common/curve).
export const stakerKey = (hex: string) => {
  if (!isValidXOnlyKey(hex))
    throw new CodedError<ApiErrorCode>(
      'API_INVALID_STAKER_PK',
      'staker_btc_pk is not a valid x-only public key',
    );
  return hex;
};
export const nextKey = (t: string | undefined) => ({ next_key: t ?? '' });

export function isValidXOnlyKey(hex: string): boolean {
  try {
    parseXOnlyKey(hex, 'staker_btc_pk', 'API_INVALID_STAKER_PK');
    return true;
  } catch {
    return false;
  }
}
