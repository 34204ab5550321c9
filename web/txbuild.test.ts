import { createHash } from 'node:crypto';
import { Psbt, type Transaction } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import {
  buildStakingOutputs,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  parseStakingTx,
  scriptPathSighash,
  txidOf,
  verifySchnorr,
  verifyStakerUnbondingSignature,
} from '../staking/index.ts';
import { testKey } from '../test/keys.ts';
import { compressedPub, PARAMS, p2trAddress, p2wpkhAddress, signerOf, tweakedSignerOf } from './testkit.ts';
import {
  buildStakingDraft,
  buildUnbondingDraft,
  buildWithdrawDraft,
  type DelegationTxs,
  finishStakingTx,
  finishWithdraw,
  outputScriptOf,
  stakerKeyOf,
  unbondingRequest,
} from './txbuild.ts';

const staker = testKey('web-txbuild-staker');
const fp = testKey('web-txbuild-fp');
const V0 = PARAMS.versions[0]!;
const pubHex = toHex(compressedPub(staker));
const fakeTxid = (label: string) => createHash('sha256').update(label).digest('hex');

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (isCodedError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('did not throw');
};

function draftFor(address: string, values: bigint[], valueSat = 200_000_000n, feeRate = 2) {
  const script = toHex(outputScriptOf(address, 'regtest'));
  return buildStakingDraft({
    version: V0,
    stakerKey: staker.xOnly,
    fpKey: fp.xOnly,
    stakingTime: 100,
    valueSat,
    utxos: [
      ...values.map((v, i) => ({ txid: fakeTxid(`coin-${i}`), vout: i, valueSat: v, scriptHex: script })),
      // Someone else's coin the wallet listed: never spent.
      { txid: fakeTxid('other'), vout: 0, valueSat: 900_000_000n, scriptHex: `0014${'11'.repeat(20)}` },
    ],
    feeRate,
    address,
    publicKeyHex: pubHex,
    network: 'regtest',
  });
}

describe('staking transaction', () => {
  it('funds from the wallet’s own coins, signs (P2WPKH), and passes staking/ identification', () => {
    const address = p2wpkhAddress(staker);
    const draft = draftFor(address, [150_000_000n, 100_000_000n, 5_000n]);
    expect(draft.psbt.inputCount).toBe(2);
    const psbt = Psbt.fromHex(draft.psbt.toHex());
    psbt.signAllInputs(signerOf(staker));
    const tx = finishStakingTx(draft, psbt.toHex(), 'regtest');
    const data = parseStakingTx(tx, V0);
    expect(data).toMatchObject({ valueSat: 200_000_000n, stakingTime: 100, stakingOutputIndex: 0 });
    expect(toHex(data.stakerKey)).toBe(toHex(staker.xOnly));
    expect(tx.locktime).toBe(V0.activationHeight - 1);
    // Fee: at least the rate times the real size, and not more than a few vB over it.
    const vsize = tx.virtualSize();
    expect(draft.feeSat).toBeGreaterThanOrEqual(BigInt(vsize * 2));
    expect(draft.feeSat).toBeLessThanOrEqual(BigInt((vsize + 6) * 2));
    const change = tx.outs[2]!;
    expect(toHex(change.script)).toBe(toHex(outputScriptOf(address, 'regtest')));
    expect(change.value).toBe(250_000_000n - 200_000_000n - draft.feeSat);
  });

  it('funds from a taproot wallet and its key-path signatures finalize', () => {
    const address = p2trAddress(staker);
    const draft = draftFor(address, [300_000_000n]);
    const psbt = Psbt.fromHex(draft.psbt.toHex());
    psbt.signAllInputs(tweakedSignerOf(staker) as unknown as Parameters<Psbt['signAllInputs']>[0]);
    const tx = finishStakingTx(draft, psbt.toBase64(), 'regtest');
    expect(tx.ins[0]!.witness).toHaveLength(1);
    expect(tx.virtualSize()).toBeLessThanOrEqual(Number(draft.feeSat) / 2);
  });

  it('says how much the wallet holds when the coins do not cover stake and fee', () => {
    const address = p2wpkhAddress(staker);
    expect(codeOf(() => draftFor(address, [150_000_000n, 50_000_000n]))).toMatch(
      new RegExp(
        `^WEB_INSUFFICIENT_FUNDS: Your wallet holds 2 BTC at ${address} \\(2 coins\\); staking 2 BTC at 2 sat/vB needs about 2.0000\\d+ BTC\\.$`,
      ),
    );
  });

  it('refuses a signed PSBT of another transaction than the one built', () => {
    const address = p2wpkhAddress(staker);
    const a = draftFor(address, [300_000_000n], 200_000_000n);
    const b = draftFor(address, [300_000_000n], 150_000_000n);
    const psbt = Psbt.fromHex(b.psbt.toHex());
    psbt.signAllInputs(signerOf(staker));
    expect(codeOf(() => finishStakingTx(a, psbt.toHex(), 'regtest'))).toBe(
      'WEB_PSBT_INVALID: The wallet returned another transaction than the one built (its inputs or outputs changed): nothing was broadcast.',
    );
  });

  it('refuses an unsigned PSBT and text that is no PSBT', () => {
    const draft = draftFor(p2wpkhAddress(staker), [300_000_000n]);
    expect(codeOf(() => finishStakingTx(draft, draft.psbt.toHex(), 'regtest'))).toBe(
      'WEB_SIGNATURE_MISSING: The wallet did not sign input 0 of the staking transaction.',
    );
    expect(codeOf(() => finishStakingTx(draft, 'not a psbt', 'regtest'))).toBe(
      'WEB_PSBT_INVALID: This is not a PSBT: paste the signed PSBT in base64 or hex.',
    );
  });

  it('refuses a wallet key that is not a point', () => {
    expect(codeOf(() => stakerKeyOf(`02${'00'.repeat(32)}`))).toBe(
      'WEB_WALLET_KEY: the wallet public key is not a point on secp256k1',
    );
  });
});

/** A confirmed staking tx of `staker` (one made-up input) as the API would serve it. */
function delegation(
  over: Partial<DelegationTxs> = {},
  stakingTime = 100,
): DelegationTxs & { tx: Transaction } {
  const outs = buildStakingOutputs({
    params: V0,
    stakerKey: staker.xOnly,
    fpKey: fp.xOnly,
    stakingTime,
    valueSat: 200_000_000n,
  });
  const tx = buildUnfundedStakingTx(outs);
  tx.addInput(createHash('sha256').update('input').digest(), 0, 0xfffffffd);
  return {
    tx,
    staking_tx_hash_hex: txidOf(tx),
    staker_pk_hex: toHex(staker.xOnly),
    staking_tx: { tx_hex: tx.toHex(), output_index: 0, start_height: 120 },
    ...over,
  };
}

describe('unbonding request', () => {
  it('is staking/’s unbonding tx with the staker’s verified signature over the unbonding leaf', () => {
    const d = delegation();
    const draft = buildUnbondingDraft(d, PARAMS, 'regtest', pubHex);
    const psbt = Psbt.fromHex(draft.psbt.toHex());
    psbt.signInput(0, signerOf(staker));
    const body = unbondingRequest(draft, psbt.toHex(), 'regtest');
    const exp = expectUnbonding(d.staking_tx_hash_hex, parseStakingTx(d.tx, V0), V0);
    const expected = buildUnbondingTx(exp);
    expect(body).toMatchObject({
      staking_tx_hash_hex: d.staking_tx_hash_hex,
      unbonding_tx_hex: expected.toHex(),
      unbonding_tx_hash_hex: txidOf(expected),
    });
    const sig = Uint8Array.from(Buffer.from(body.staker_signed_signature_hex, 'hex'));
    expect(verifyStakerUnbondingSignature(expected, exp, staker.xOnly, sig)).toBe(true);
  });

  it('refuses a signature that does not verify, before anything reaches the API', () => {
    const draft = buildUnbondingDraft(delegation(), PARAMS, 'regtest', pubHex);
    const psbt = Psbt.fromHex(draft.psbt.toHex());
    psbt.updateInput(0, {
      tapScriptSig: [
        {
          pubkey: staker.xOnly,
          leafHash: draft.exp.unbondingLeafHash,
          signature: new Uint8Array(64).fill(7),
        },
      ],
    });
    expect(codeOf(() => unbondingRequest(draft, psbt.toHex(), 'regtest'))).toBe(
      'WEB_SIGNATURE_INVALID: The wallet’s signature does not verify for your staker key over the unbonding transaction.',
    );
    expect(codeOf(() => unbondingRequest(draft, draft.psbt.toHex(), 'regtest'))).toBe(
      'WEB_SIGNATURE_MISSING: The signed PSBT has no signature of your key for the unbonding leaf.',
    );
  });

  it('refuses an API answer whose staking tx is not the delegation’s', () => {
    const d = delegation({ staking_tx_hash_hex: fakeTxid('another') });
    expect(codeOf(() => buildUnbondingDraft(d, PARAMS, 'regtest', pubHex))).toBe(
      'WEB_PSBT_INVALID: The API sent a staking transaction whose txid is not the delegation’s hash.',
    );
  });
});

describe('withdraw', () => {
  const to = p2wpkhAddress(staker);

  function unbonded() {
    const d = delegation();
    const exp = expectUnbonding(d.staking_tx_hash_hex, parseStakingTx(d.tx, V0), V0);
    const utx = buildUnbondingTx(exp);
    return { ...d, unbonding_tx: { tx_hex: utx.toHex(), output_index: 0, start_height: 130 }, utx };
  }

  it('waits for the unbonding timelock (BIP68: confirmed height + lock), saying when', () => {
    const d = unbonded();
    const args = {
      delegation: d,
      params: PARAMS,
      network: 'regtest' as const,
      toAddress: to,
      feeRate: 2,
      publicKeyHex: pubHex,
    };
    expect(codeOf(() => buildWithdrawDraft({ ...args, tipHeight: 131 }))).toBe(
      'WEB_TIMELOCK_NOT_REACHED: The timelock ends at height 133: a withdraw can confirm from then on, in 1 block (~10 min).',
    );
    const draft = buildWithdrawDraft({ ...args, tipHeight: 132 });
    expect(draft.fromUnbonding).toBe(true);
    expect(draft.tx.ins[0]!.sequence).toBe(3);
    expect(txidOf(draft.tx)).not.toBe('');
    expect(draft.tx.ins[0]!.index).toBe(0);
    expect(toHex(Uint8Array.from(draft.tx.ins[0]!.hash).reverse())).toBe(txidOf(d.utx));
  });

  it('spends the unbonding output with a verified signature in the timelock witness', () => {
    const d = unbonded();
    const draft = buildWithdrawDraft({
      delegation: d,
      params: PARAMS,
      network: 'regtest',
      tipHeight: 140,
      toAddress: to,
      feeRate: 2,
      publicKeyHex: pubHex,
    });
    const psbt = Psbt.fromHex(draft.psbt.toHex());
    psbt.signInput(0, signerOf(staker));
    const tx = finishWithdraw(draft, psbt.toHex(), 'regtest');
    const w = tx.ins[0]!.witness;
    expect(w).toHaveLength(3);
    expect(toHex(w[1]!)).toBe(toHex(draft.leaf.script));
    const sighash = scriptPathSighash(
      tx,
      0,
      { pkScripts: [draft.prevout.script], valuesSat: [draft.prevout.valueSat] },
      draft.leaf,
    );
    expect(verifySchnorr(sighash, staker.xOnly, w[0]!)).toBe(true);
    expect(tx.outs[0]!.value).toBe(200_000_000n - 500n - draft.feeSat);
    expect(Number(draft.feeSat)).toBeGreaterThanOrEqual(tx.virtualSize() * 2);
  });

  it('spends an expired staking output through the staking timelock when there was no unbonding', () => {
    const d = delegation({}, 10);
    const draft = buildWithdrawDraft({
      delegation: d,
      params: PARAMS,
      network: 'regtest',
      tipHeight: 129,
      toAddress: to,
      feeRate: 1,
      publicKeyHex: pubHex,
    });
    expect(draft.fromUnbonding).toBe(false);
    expect(draft.tx.ins[0]!.sequence).toBe(10);
    const psbt = Psbt.fromHex(draft.psbt.toHex());
    psbt.signInput(0, signerOf(staker));
    expect(finishWithdraw(draft, psbt.toBase64(), 'regtest').ins[0]!.witness).toHaveLength(3);
  });
});
