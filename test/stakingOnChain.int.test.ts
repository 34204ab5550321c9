import { address as btcAddress, networks, type Transaction } from 'bitcoinjs-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fundedWallet, type RegtestNode, type RpcClient, startRegtestNode } from '../bitcoind/index.ts';
import { toHex } from '../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import {
  buildStakingOutputs,
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingTx,
  buildUnbondingWitness,
  buildUnfundedStakingTx,
  classifyStakingOutputSpend,
  classifyStakingTx,
  expectUnbonding,
  isUnbondingTimelockWithdraw,
  type Leaf,
  parseStakingTx,
  parseTransaction,
  type StakingTxData,
  scriptPathSighash,
  type UnbondingExpectation,
  unbondingSighash,
} from '../staking/index.ts';
import { testKey, testParamsDoc } from './keys.ts';

/**
 * staking/ against a real Bitcoin node (Knots, regtest): what the functions build is what consensus
 * accepts, and what they refuse to build, consensus refuses too.
 */
const covenants = ['cov-a', 'cov-b', 'cov-c'].map(testKey);
const staker = testKey('chain-staker');
const fp = testKey('chain-fp');

let node: RegtestNode;
let wallet: RpcClient;
let params: GlobalParams;
let payout: Uint8Array;
let minerAddress: string;

beforeAll(async () => {
  node = await startRegtestNode();
  ({ rpc: wallet, address: minerAddress } = await fundedWallet(node, 'staker'));
  params = parseGlobalParams(testParamsDoc(covenants, { activation_height: 1, min_staking_time: 5 }));
  payout = btcAddress.toOutputScript(await wallet.getnewaddress('', 'bech32'), networks.regtest);
});
afterAll(async () => {
  await node?.stop();
});

async function mine(n = 1): Promise<number> {
  await node.rpc.generatetoaddress(n, minerAddress);
  return node.rpc.getblockcount();
}

/** Builds a staking tx with staking/, has the wallet fund and sign it, mines it; returns it identified. */
async function stake(
  valueSat: bigint,
  stakingTime: number,
): Promise<{ tx: Transaction; height: number; data: StakingTxData }> {
  const v = params.versions[0]!;
  const outs = buildStakingOutputs({
    params: v,
    stakerKey: staker.xOnly,
    fpKey: fp.xOnly,
    stakingTime,
    valueSat,
  });
  const funded = await wallet.fundrawtransaction(buildUnfundedStakingTx(outs).toHex());
  const signed = await wallet.signrawtransactionwithwallet(funded.hex);
  expect(signed.complete).toBe(true);
  const txid = await node.rpc.sendrawtransaction(signed.hex);
  const height = await mine();
  const raw = await node.rpc.getrawtransaction(txid, true);
  expect(raw.confirmations).toBe(1);
  const tx = parseTransaction(raw.hex);
  const c = classifyStakingTx(tx, params, height);
  expect(c.kind).toBe('valid');
  return { tx, height, data: parseStakingTx(tx, v) };
}

async function accepts(tx: Transaction): Promise<{ allowed: boolean; reason: string }> {
  const [r] = await node.rpc.testmempoolaccept([tx.toHex()]);
  return { allowed: r?.allowed === true, reason: r?.['reject-reason'] ?? '' };
}

/** The unbonding tx with the staker's and `signers`' signatures in the witness. */
function signedUnbonding(
  exp: UnbondingExpectation,
  leaf: Leaf,
  signers = covenants.slice(0, 2),
): { tx: Transaction; sighash: Uint8Array } {
  const tx = buildUnbondingTx(exp);
  const sighash = unbondingSighash(tx, exp);
  tx.ins[0]!.witness = buildUnbondingWitness({
    covenantKeys: params.versions[0]!.covenantKeys,
    quorum: 2,
    covenantSignatures: signers.map((k) => ({ key: k.xOnly, signature: k.sign(sighash) })),
    stakerSignature: staker.sign(sighash),
    leaf,
  });
  return { tx, sighash };
}

describe('staking transactions on a real node', () => {
  it('funds, mines and identifies a staking tx built by staking/', async () => {
    const { data } = await stake(100_000n, 100);
    expect(data.valueSat).toBe(100_000n);
    expect(data.stakingTime).toBe(100);
  });

  it('accepts a staker + quorum unbonding and refuses every broken variant', async () => {
    const { tx: stx, data } = await stake(200_000n, 100);
    const exp = expectUnbonding(stx.getId(), data, params.versions[0]!);
    const { tx: good, sighash } = signedUnbonding(exp, data.stakingInfo.unbonding);

    // One signature fewer: the NUMEQUAL count is 1, not 2.
    const fewer = parseTransaction(good.toHex());
    const w = fewer.ins[0]!.witness;
    const firstSig = w.findIndex((x) => x.length === 64);
    w[firstSig] = new Uint8Array(0);
    expect((await accepts(fewer)).allowed).toBe(false);

    // Signatures in the wrong slots: swap a signed slot with an empty one.
    const swapped = parseTransaction(good.toHex());
    const sw = swapped.ins[0]!.witness;
    const empty = sw.slice(0, 3).findIndex((x) => x.length === 0);
    const signed = sw.slice(0, 3).findIndex((x) => x.length === 64);
    [sw[empty], sw[signed]] = [sw[signed]!, sw[empty]!];
    expect((await accepts(swapped)).allowed).toBe(false);

    // The wrong fee: the signatures commit to the output value, so one sat more fee breaks them all.
    const wrongFee = parseTransaction(good.toHex());
    wrongFee.outs[0]!.value -= 1n;
    expect((await accepts(wrongFee)).allowed).toBe(false);

    // One signature too many: the quorum is exact (OP_NUMEQUAL), so 3 of 3 fails.
    const tooMany = parseTransaction(good.toHex());
    const tw = tooMany.ins[0]!.witness;
    const missing = covenants.find((k) => !covenants.slice(0, 2).includes(k))!;
    const order = [...covenants].sort((a, b) => Buffer.compare(Buffer.from(b.xOnly), Buffer.from(a.xOnly)));
    tw[order.indexOf(missing)] = missing.sign(sighash);
    expect((await accepts(tooMany)).allowed).toBe(false);

    const ok = await accepts(good);
    expect(ok).toEqual({ allowed: true, reason: '' });
    await node.rpc.sendrawtransaction(good.toHex());
    await mine();
    const mined = parseTransaction(await node.rpc.getrawtransaction(good.getId(), false));
    expect(classifyStakingOutputSpend(mined, 0, exp, data.stakingInfo.timelock)).toEqual({
      kind: 'unbonding',
    });

    // Withdraw from the unbonding output after unbonding_time (3) blocks.
    const unbondingHeight = await node.rpc.getblockcount();
    const wd = buildTimelockWithdrawTx({
      prevTxid: good.getId(),
      prevVout: 0,
      timelockBlocks: 3,
      prevValueSat: exp.unbondingValueSat,
      feeSat: 1_000n,
      outputScript: payout,
    });
    const h = scriptPathSighash(
      wd,
      0,
      { pkScripts: [exp.unbondingInfo.pkScript], valuesSat: [exp.unbondingValueSat] },
      exp.unbondingInfo.timelock,
    );
    wd.ins[0]!.witness = buildTimelockWitness(staker.sign(h), exp.unbondingInfo.timelock);
    expect((await accepts(wd)).allowed).toBe(false);
    while ((await node.rpc.getblockcount()) < unbondingHeight + 2) await mine();
    expect(await accepts(wd)).toEqual({ allowed: true, reason: '' });
    await node.rpc.sendrawtransaction(wd.toHex());
    await mine();
    expect(isUnbondingTimelockWithdraw(wd, 0, exp.unbondingInfo.timelock)).toBe(true);
  });

  it('refuses a timelock withdrawal before the timelock and accepts it exactly when BIP68 allows', async () => {
    const T = 10;
    const { tx: stx, height, data } = await stake(150_000n, T);
    const wd = buildTimelockWithdrawTx({
      prevTxid: stx.getId(),
      prevVout: data.stakingOutputIndex,
      timelockBlocks: T,
      prevValueSat: data.valueSat,
      feeSat: 1_000n,
      outputScript: payout,
    });
    const h = scriptPathSighash(
      wd,
      0,
      { pkScripts: [data.stakingInfo.pkScript], valuesSat: [data.valueSat] },
      data.stakingInfo.timelock,
    );
    wd.ins[0]!.witness = buildTimelockWitness(staker.sign(h), data.stakingInfo.timelock);

    // Valid in a block at height ≥ h + T, i.e. in the mempool once the tip is h + T − 1.
    while ((await node.rpc.getblockcount()) < height + T - 2) await mine();
    const early = await accepts(wd);
    expect(early.allowed).toBe(false);
    expect(early.reason).toMatch(/non-BIP68-final/);
    await mine();
    expect(await accepts(wd)).toEqual({ allowed: true, reason: '' });
    await node.rpc.sendrawtransaction(wd.toHex());
    await mine();
    const exp = expectUnbonding(stx.getId(), data, params.versions[0]!);
    expect(classifyStakingOutputSpend(wd, 0, exp, data.stakingInfo.timelock)).toEqual({ kind: 'withdraw' });
    expect(toHex(wd.ins[0]!.witness[1]!)).toBe(toHex(data.stakingInfo.timelock.script));
  });
});
