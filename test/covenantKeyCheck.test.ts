import { describe, expect, it } from 'vitest';
import { isCodedError, isPublicKey, toHex } from '../common/index.ts';
import { buildStake } from '../indexer/testkit/txs.ts';
import { validateSignRequest } from '../signer/validate.ts';
import { buildUnbondingTx, expectUnbonding, unbondingSighash } from '../staking/index.ts';
import { testKey } from './keys.ts';
import { covenants, fp, PARAMS, V0 } from './unbondingKit.ts';

/**
 * The covenant key of a request: the curve check remembers its answers by the key's bytes
 * (common/curve.node.ts), so the key a signer sees in every request costs a lookup; every key is
 * refused exactly as before.
 */
const held = covenants[0]!;
const staker = testKey('validate-staker');
const stake = buildStake({
  version: V0,
  staker,
  fp,
  stakingTime: 500,
  valueSat: 1_000_000n,
  funding: { txid: 'cd'.repeat(32), vout: 0, valueSat: 1_100_000n },
});
const exp = expectUnbonding(stake.txid, stake.data, V0);
const unbondingTx = buildUnbondingTx(exp);
const ctx = {
  params: PARAMS,
  heldKeys: new Set([toHex(held.xOnly)]),
  chain: {
    getTransaction: async () => ({ hex: stake.tx.toHex(), blockhash: 'bb'.repeat(32), confirmations: 10 }),
    getBlockHeight: async () => 1_000,
  },
};
const request = (covenantKey: string) =>
  validateSignRequest(
    {
      staking_output_pk_script_hex: toHex(stake.stakingInfo.pkScript),
      unbonding_tx_hex: unbondingTx.toHex(),
      staker_unbonding_sig_hex: toHex(staker.sign(unbondingSighash(unbondingTx, exp))),
      covenant_public_key: covenantKey,
    },
    ctx,
  );
const refusal = async (covenantKey: string) => {
  const e = await request(covenantKey).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isCodedError(e)) throw new Error(`expected a coded refusal, got ${String(e)}`);
  return { code: e.code, message: e.message };
};

describe('validateSignRequest: the covenant key', () => {
  it('signs for the listed key, given as published', async () => {
    const plan = await request(held.compressedHex);
    expect(plan.keyHex).toBe(toHex(held.xOnly));
    expect(toHex(plan.sighash)).toBe(toHex(unbondingSighash(unbondingTx, exp)));
  });

  it('refuses a 33-byte key off the curve, one with a bad prefix, and one too short, as keys', async () => {
    let offCurve = '';
    for (let i = 1; offCurve === ''; i++) {
      const candidate = `02${i.toString(16).padStart(64, '0')}`;
      if (!isPublicKey(Buffer.from(candidate, 'hex'))) offCurve = candidate;
    }
    expect(await refusal(offCurve)).toEqual({
      code: 'SIGNER_INVALID_COVENANT_KEY',
      message: 'covenant_public_key is not a point on secp256k1',
    });
    expect(await refusal(`04${held.compressedHex.slice(2)}`)).toEqual({
      code: 'SIGNER_INVALID_COVENANT_KEY',
      message: 'covenant_public_key must be a 33-byte compressed public key (02/03 prefix)',
    });
    expect((await refusal(toHex(held.xOnly))).code).toBe('SIGNER_INVALID_COVENANT_KEY');
  });

  it('refuses the listed key with the other parity byte as not in the params, and an unheld key as not held', async () => {
    const otherParity = `${held.compressedHex.startsWith('02') ? '03' : '02'}${held.compressedHex.slice(2)}`;
    const e = await refusal(otherParity);
    expect(e.code).toBe('SIGNER_KEY_NOT_IN_PARAMS');
    expect(e.message).toContain('other parity byte');
    expect((await refusal(covenants[1]!.compressedHex)).code).toBe('SIGNER_KEY_NOT_HELD');
  });
});
