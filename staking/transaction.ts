import { Transaction } from 'bitcoinjs-lib';
import { CodedError, parseHex } from '../common/index.ts';

/** No consensus-valid transaction is larger than a block's 4,000,000 weight units. */
export const MAX_TX_BYTES = 4_000_000;

/**
 * Deserializes exactly one transaction from hex or bytes. bitcoinjs throws assorted plain errors on
 * bad input; they become one coded error so no caller ever sees a raw library exception.
 * @throws {CodedError} STAKING_BAD_HEX, STAKING_TX_TOO_LARGE, STAKING_TX_MALFORMED
 */
export function parseTransaction(input: string | Uint8Array, field = 'transaction'): Transaction {
  if (typeof input === 'string' && input.length > MAX_TX_BYTES * 2) {
    throw new CodedError('STAKING_TX_TOO_LARGE', `${field} is larger than ${MAX_TX_BYTES} bytes`);
  }
  const bytes = typeof input === 'string' ? parseHex(input, field, 'STAKING_BAD_HEX') : input;
  if (bytes.length > MAX_TX_BYTES) {
    throw new CodedError('STAKING_TX_TOO_LARGE', `${field} is larger than ${MAX_TX_BYTES} bytes`);
  }
  if (bytes.length === 0) throw new CodedError('STAKING_TX_MALFORMED', `${field} is empty`);
  try {
    return Transaction.fromBuffer(bytes);
  } catch (cause) {
    throw new CodedError('STAKING_TX_MALFORMED', `${field} is not a valid serialized transaction`, { cause });
  }
}

/** The txid (display order hex) of a transaction. */
export function txidOf(tx: Transaction): string {
  return tx.getId();
}
