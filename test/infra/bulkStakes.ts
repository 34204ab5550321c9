import { address as btcAddress, crypto, networks, script, Transaction } from 'bitcoinjs-lib';
import { btcToSat, type RegtestNode, type RpcClient } from '../../bitcoind/index.ts';
import { concatBytes, ecc, toHex, txidToHash, type XOnlyKey } from '../../common/index.ts';
import type { ParamsVersion } from '../../params/index.ts';
import {
  buildStakingOutputs,
  buildUnbondingTx,
  expectUnbonding,
  parseStakingTx,
  type SignUnbondingRequestBody,
  type StakingTxData,
  type UnbondingExpectation,
  unbondingSighash,
} from '../../staking/index.ts';
import { type TestKey, testKey } from '../keys.ts';

export interface BulkStake {
  readonly txid: string;
  readonly hex: string;
  readonly data: StakingTxData;
  readonly exp: UnbondingExpectation;
  readonly unbondingTx: Transaction;
  readonly stakerSig: Uint8Array;
  /** The reference sign request for a covenant key. */
  body(covenantKey: XOnlyKey): SignUnbondingRequestBody;
}

const FANOUT_CHUNK = 1000;
const PER_STAKE_FEE = 2_000n;

/** P2WPKH for a test key, with the pieces a signature needs. */
function p2wpkh(key: TestKey) {
  const pub = ecc.pointFromScalar(key.privateKey, true)!;
  const h160 = crypto.hash160(pub);
  return {
    pub,
    script: concatBytes(Uint8Array.of(0x00, 0x14), h160),
    // BIP143: the script code of P2WPKH is the P2PKH script of the key hash.
    scriptCode: concatBytes(Uint8Array.of(0x76, 0xa9, 0x14), h160, Uint8Array.of(0x88, 0xac)),
  };
}

function signP2wpkh(tx: Transaction, index: number, valueSat: bigint, key: TestKey): void {
  const w = p2wpkh(key);
  const hash = tx.hashForWitnessV0(index, w.scriptCode, valueSat, Transaction.SIGHASH_ALL);
  const sig = script.signature.encode(ecc.sign(hash, key.privateKey), Transaction.SIGHASH_ALL);
  tx.ins[index]!.witness = [sig, w.pub];
}

/**
 * Creates `n` confirmed staking transactions quickly: the wallet funds a key of ours, fan-out txs
 * split that into one output per stake, and each stake spends one output, signed here and
 * broadcast in JSON-RPC batches. Then `confirmations` blocks are mined.
 */
export async function bulkStakes(
  node: RegtestNode,
  wallet: RpcClient,
  params: ParamsVersion,
  n: number,
  opts: {
    readonly valueSat?: bigint;
    readonly stakingTime?: number;
    readonly confirmations?: number;
    readonly minerAddress: string;
  },
): Promise<BulkStake[]> {
  const valueSat = opts.valueSat ?? 100_000n;
  const stakingTime =
    opts.stakingTime ?? Math.max(params.minStakingTime, Math.min(100, params.maxStakingTime));
  const funder = testKey('bulk-funder');
  // Every stake its own staker, as on a real chain: a cache keyed by the staker would otherwise
  // answer every request of a benchmark and measure nothing of the work a new stake costs.
  const fp = testKey('bulk-fp');
  const fw = p2wpkh(funder);
  const funderAddress = btcAddress.fromOutputScript(fw.script, networks.regtest);

  /** Mines blocks until the mempool is empty: what does not fit one block goes into the next. */
  const mineMempool = async () => {
    do await node.rpc.generatetoaddress(1, opts.minerAddress);
    while ((await node.rpc.getrawmempool()).length > 0);
  };

  const leaves: Array<{ txid: string; vout: number; value: bigint }> = [];
  for (let done = 0; done < n; done += FANOUT_CHUNK) {
    const k = Math.min(FANOUT_CHUNK, n - done);
    const each = valueSat + PER_STAKE_FEE;
    const fundTxid = await wallet.sendtoaddress(funderAddress, each * BigInt(k) + 100_000n);
    const fund = await wallet.getrawtransaction(fundTxid, true);
    const vout = fund.vout.find((o) => o.scriptPubKey.hex === toHex(fw.script))!;
    const fundValue = btcToSat(vout.value);
    const fan = new Transaction();
    fan.version = 2;
    fan.addInput(txidToHash(fundTxid, 'BENCH'), vout.n);
    for (let i = 0; i < k; i++) fan.addOutput(fw.script, each);
    signP2wpkh(fan, 0, fundValue, funder);
    const fanTxid = await node.rpc.sendrawtransaction(fan.toHex());
    for (let i = 0; i < k; i++) leaves.push({ txid: fanTxid, vout: i, value: each });
  }
  // Every fan-out confirmed before a stake spends it: a stake of an unconfirmed fan-out counts among
  // its descendants, and bitcoind refuses the 26th (too-long-mempool-chain). One block did not
  // always take all of them (11,500 stakes, 12 fan-outs, 2026-12-07).
  await mineMempool();

  const stakes: BulkStake[] = [];
  const hexes: string[] = [];
  for (const [i, leaf] of leaves.entries()) {
    const staker = testKey(`bulk-staker-${i}`);
    const outs = buildStakingOutputs({
      params,
      stakerKey: staker.xOnly,
      fpKey: fp.xOnly,
      stakingTime,
      valueSat,
    });
    const tx = new Transaction();
    tx.version = 2;
    tx.addInput(txidToHash(leaf.txid, 'BENCH'), leaf.vout, 0xfffffffd);
    tx.addOutput(outs.stakingOutput.script, valueSat);
    tx.addOutput(outs.opReturnOutput.script, 0n);
    signP2wpkh(tx, 0, leaf.value, funder);
    const data = parseStakingTx(tx, params);
    const exp = expectUnbonding(tx.getId(), data, params);
    const unbondingTx = buildUnbondingTx(exp);
    const stakerSig = staker.sign(unbondingSighash(unbondingTx, exp));
    const hex = tx.toHex();
    hexes.push(hex);
    stakes.push({
      txid: tx.getId(),
      hex,
      data,
      exp,
      unbondingTx,
      stakerSig,
      body: (key) => ({
        staking_output_pk_script_hex: toHex(data.stakingInfo.pkScript),
        unbonding_tx_hex: unbondingTx.toHex(),
        staker_unbonding_sig_hex: toHex(stakerSig),
        covenant_public_key: `02${toHex(key)}`,
      }),
    });
  }
  for (let i = 0; i < hexes.length; i += 500) {
    const res = await node.rpc.batch(
      hexes.slice(i, i + 500).map((h) => ({ method: 'sendrawtransaction', params: [h] })),
    );
    const bad = res.find((r) => !r.ok);
    if (bad && !bad.ok) throw bad.error;
  }
  // Many stakes may not fit one block: mine until every one is in, then the remaining depth.
  await mineMempool();
  const more = (opts.confirmations ?? params.confirmationDepth) - 1;
  if (more > 0) await node.rpc.generatetoaddress(more, opts.minerAddress);
  return stakes;
}
