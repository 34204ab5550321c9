import { describe, expect, it } from 'vitest';
import { parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  buildStakingOutputs,
  buildUnfundedStakingTx,
  MAX_TX_BYTES,
  parseStakingTx,
  parseTransaction,
} from './index.ts';

/*
 * The refusals at the edge of staking/: bytes that are not a transaction, and a transaction that
 * cannot be a staking tx before any script is rebuilt. Each is its own code, never a library's
 * exception (transaction.test.ts covers the decoder against bitcoinjs on arbitrary bytes).
 */
const covenants = [0, 1, 2].map((i) => testKey(`parse-refusals-covenant-${i}`));
const underTag = (tag: string) => parseGlobalParams(testParamsDoc(covenants, { tag })).versions[0]!;
const stakingTx = () => {
  const tx = buildUnfundedStakingTx(
    buildStakingOutputs({
      params: underTag('01020304'),
      stakerKey: testKey('parse-refusals-staker').xOnly,
      fpKey: testKey('parse-refusals-fp').xOnly,
      stakingTime: 100,
      valueSat: 100_000n,
    }),
  );
  tx.addInput(Buffer.alloc(32, 9), 0);
  return tx;
};
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('parseTransaction refuses', () => {
  it('STAKING_BAD_HEX: a string that is not even-length hex', () => {
    expect(code(() => parseTransaction('zz'))).toBe('STAKING_BAD_HEX');
    expect(code(() => parseTransaction('abc'))).toBe('STAKING_BAD_HEX');
  });

  it('STAKING_TX_MALFORMED: nothing, or bytes that do not deserialize', () => {
    expect(code(() => parseTransaction(''))).toBe('STAKING_TX_MALFORMED');
    expect(code(() => parseTransaction(new Uint8Array(0)))).toBe('STAKING_TX_MALFORMED');
    expect(code(() => parseTransaction('02000000'))).toBe('STAKING_TX_MALFORMED');
    // A whole transaction with a byte too many is not one transaction.
    expect(code(() => parseTransaction(`${stakingTx().toHex()}00`))).toBe('STAKING_TX_MALFORMED');
  });

  it('STAKING_TX_TOO_LARGE: more than MAX_TX_BYTES, as hex (before decoding it) or as bytes', () => {
    expect(code(() => parseTransaction('00'.repeat(MAX_TX_BYTES + 1)))).toBe('STAKING_TX_TOO_LARGE');
    expect(code(() => parseTransaction(new Uint8Array(MAX_TX_BYTES + 1)))).toBe('STAKING_TX_TOO_LARGE');
  });

  it('accepts the same transaction whole, so each refusal above is the change it names', () => {
    expect(parseTransaction(stakingTx().toHex()).getId()).toBe(stakingTx().getId());
  });
});

describe('parseStakingTx refuses', () => {
  it('STAKING_NOT_ENOUGH_OUTPUTS: fewer than a staking output and an OP_RETURN', () => {
    const tx = stakingTx();
    tx.outs.splice(1);
    expect(code(() => parseStakingTx(tx, underTag('01020304')))).toBe('STAKING_NOT_ENOUGH_OUTPUTS');
  });

  it('STAKING_WRONG_TAG: a v0 OP_RETURN under another params version’s tag', () => {
    expect(parseStakingTx(stakingTx(), underTag('01020304')).valueSat).toBe(100_000n);
    expect(code(() => parseStakingTx(stakingTx(), underTag('0a0b0c0d')))).toBe('STAKING_WRONG_TAG');
  });
});
