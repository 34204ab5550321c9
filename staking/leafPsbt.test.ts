import { Psbt, Transaction } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  buildLeafSigningPsbt,
  buildStakingOutputs,
  buildUnbondingTx,
  expectUnbonding,
  LEAF_VERSION_TAPSCRIPT,
  leafSignatureOf,
  NUMS_INTERNAL_KEY,
  parseStakingTx,
  txidOf,
  unbondingSighash,
  verifySchnorr,
} from './index.ts';

const covenants = ['c1', 'c2', 'c3'].map(testKey);
const staker = testKey('leaf-psbt-staker');
const fp = testKey('leaf-psbt-fp');
const v0 = parseGlobalParams(testParamsDoc(covenants)).versions[0]!;
const outs = buildStakingOutputs({
  params: v0,
  stakerKey: staker.xOnly,
  fpKey: fp.xOnly,
  stakingTime: 100,
  valueSat: 50_000n,
});
const stakingTx = new Transaction();
stakingTx.version = 2;
stakingTx.addInput(new Uint8Array(32).fill(7), 0);
stakingTx.addOutput(outs.stakingOutput.script, outs.stakingOutput.valueSat);
stakingTx.addOutput(outs.opReturnOutput.script, 0n);
const data = parseStakingTx(stakingTx, v0);
const exp = expectUnbonding(stakingTx.getId(), data, v0);
const unbondingTx = buildUnbondingTx(exp);
const leaf = data.stakingInfo.unbonding;
const spend = {
  tx: unbondingTx,
  prevout: { script: exp.stakingPkScript, valueSat: exp.stakingValueSat },
  leaf,
};
const sighash = unbondingSighash(unbondingTx, exp);

/** The PSBT as a wallet hands it back: serialized, with the given script-path signatures added. */
function signedBy(psbt: Psbt, sigs: { pubkey: Uint8Array; leafHash: Uint8Array; signature: Uint8Array }[]) {
  const back = Psbt.fromBase64(psbt.toBase64());
  back.updateInput(0, { tapScriptSig: sigs });
  return Psbt.fromBase64(back.toBase64());
}

describe('the leaf-signing PSBT', () => {
  it('is exactly the transaction, spending the prevout through the leaf under the control block’s internal key', () => {
    const psbt = buildLeafSigningPsbt(spend);
    const unsigned = Transaction.fromBuffer(psbt.data.getTransaction());
    expect(txidOf(unsigned)).toBe(txidOf(unbondingTx));
    expect(unsigned.ins[0]!.sequence).toBe(unbondingTx.ins[0]!.sequence);
    const input = psbt.data.inputs[0]!;
    expect(input.witnessUtxo).toEqual({ script: exp.stakingPkScript, value: exp.stakingValueSat });
    expect(toHex(input.tapInternalKey!)).toBe(toHex(NUMS_INTERNAL_KEY));
    expect(input.tapLeafScript).toEqual([
      { leafVersion: LEAF_VERSION_TAPSCRIPT, script: leaf.script, controlBlock: leaf.controlBlock },
    ]);
    // No key named unless asked: a browser wallet signs with its own.
    expect(input.tapBip32Derivation).toBeUndefined();
  });

  it('names the signing key, for the leaf, when asked (bitcoind signs only for keys named)', () => {
    const psbt = buildLeafSigningPsbt({ ...spend, signerKey: covenants[1]!.xOnly });
    const [d] = psbt.data.inputs[0]!.tapBip32Derivation!;
    expect(toHex(d!.pubkey)).toBe(toHex(covenants[1]!.xOnly));
    expect(d!.leafHashes.map(toHex)).toEqual([toHex(leaf.leafHash)]);
    expect(d!.path).toBe('m');
  });

  it('refuses a transaction without exactly one input (STAKING_INVALID_ARGUMENT)', () => {
    const two = unbondingTx.clone();
    two.addInput(new Uint8Array(32).fill(9), 0);
    let code = 'ACCEPTED';
    try {
      buildLeafSigningPsbt({ ...spend, tx: two });
    } catch (e) {
      code = isCodedError(e) ? e.code : 'OTHER';
    }
    expect(code).toBe('STAKING_INVALID_ARGUMENT');
  });
});

describe('picking the signature', () => {
  const mine = covenants[0]!;
  const other = covenants[2]!;
  const good = mine.sign(sighash);

  it('takes the signature whose key AND leaf match, whatever else the PSBT carries, and it verifies', () => {
    const psbt = signedBy(buildLeafSigningPsbt(spend), [
      { pubkey: other.xOnly, leafHash: leaf.leafHash, signature: other.sign(sighash) },
      { pubkey: mine.xOnly, leafHash: data.stakingInfo.timelock.leafHash, signature: new Uint8Array(64) },
      { pubkey: mine.xOnly, leafHash: leaf.leafHash, signature: good },
    ]);
    const sig = leafSignatureOf(psbt, mine.xOnly, leaf.leafHash)!;
    expect(toHex(sig)).toBe(toHex(good));
    expect(verifySchnorr(sighash, mine.xOnly, sig)).toBe(true);
  });

  it('returns 65 bytes as found (the caller refuses an explicit sighash type) and nothing when absent', () => {
    const withType = Uint8Array.of(...good, 0x01);
    const psbt = signedBy(buildLeafSigningPsbt(spend), [
      { pubkey: mine.xOnly, leafHash: leaf.leafHash, signature: withType },
    ]);
    expect(leafSignatureOf(psbt, mine.xOnly, leaf.leafHash)).toHaveLength(65);
    expect(leafSignatureOf(psbt, other.xOnly, leaf.leafHash)).toBeUndefined();
    expect(leafSignatureOf(psbt, mine.xOnly, data.stakingInfo.timelock.leafHash)).toBeUndefined();
    expect(leafSignatureOf(buildLeafSigningPsbt(spend), mine.xOnly, leaf.leafHash)).toBeUndefined();
  });
});
