import type { Transaction } from 'bitcoinjs-lib';
import type { RpcClient } from '../bitcoind/index.ts';
import { parseCompressedKey, parseHex, toHex, type XOnlyKey, xOnlyOf } from '../common/index.ts';
import { buildSigningPsbt, pickSignature } from '../hsm/index.ts';
import type { ParamsVersion } from '../params/index.ts';
import {
  buildStakingOutputs,
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  type Leaf,
  parseStakingTx,
  parseTransaction,
  type StakingTxData,
  scriptPathSighash,
  type UnbondingExpectation,
  type UnbondingRequestBody,
  unbondingSighash,
} from '../staking/index.ts';

/** A staking transaction the demo staker broadcast. */
export interface DemoStake {
  readonly txid: string;
  readonly tx: Transaction;
  readonly data: StakingTxData;
  /** The params version it was built under (its tag, committee and unbonding terms). */
  readonly version: ParamsVersion;
}

/** The withdraw fee of the reference demo's timelock-path withdrawals. */
export const WITHDRAW_FEE_SAT = 1_000n;

/**
 * The demo's staker, working as the reference's staker tooling does: its key is a key of a wallet on
 * the regtest node, which funds and signs the staking transactions and, through `walletprocesspsbt`
 * on a PSBT naming the leaf, makes the staker's script-path signatures (unbonding leaf, timelock
 * leaf). No private key leaves the wallet. The PSBT and the signature check are the ones the
 * covenant signer's bitcoind-wallet backend uses: one way to have a wallet sign a leaf.
 */
export class WalletStaker {
  readonly key: XOnlyKey;
  readonly #node: RpcClient;
  readonly #wallet: RpcClient;
  readonly #fpKey: XOnlyKey;

  private constructor(node: RpcClient, wallet: RpcClient, key: XOnlyKey, fpKey: XOnlyKey) {
    this.#node = node;
    this.#wallet = wallet;
    this.key = key;
    this.#fpKey = fpKey;
  }

  /** A staker whose key is a new key of `wallet` (from its HD chain), delegating to `fpKey`. */
  static async create(node: RpcClient, wallet: RpcClient, fpKey: XOnlyKey): Promise<WalletStaker> {
    const address = await wallet.getnewaddress('staker', 'bech32');
    const { pubkey } = await wallet.getaddressinfo(address);
    const key = xOnlyOf(parseCompressedKey(pubkey, 'pubkey', 'DEMO_WALLET'));
    return new WalletStaker(node, wallet, key, fpKey);
  }

  /** Builds a staking tx under `version` with staking/, has the wallet fund and sign it, broadcasts it. */
  async stake(valueSat: bigint, stakingTime: number, version: ParamsVersion): Promise<DemoStake> {
    const outs = buildStakingOutputs({
      params: version,
      stakerKey: this.key,
      fpKey: this.#fpKey,
      stakingTime,
      valueSat,
    });
    const funded = await this.#wallet.fundrawtransaction(buildUnfundedStakingTx(outs).toHex());
    const signed = await this.#wallet.signrawtransactionwithwallet(funded.hex);
    if (!signed.complete) throw new Error('the wallet could not sign the staking transaction');
    const txid = await this.#node.sendrawtransaction(signed.hex);
    const tx = parseTransaction(signed.hex);
    return { txid, tx, data: parseStakingTx(tx, version), version };
  }

  /** The unbonding tx the params prescribe for `stake`, and the request body with the staker's signature. */
  async unbondingRequest(
    stake: DemoStake,
  ): Promise<{ body: UnbondingRequestBody; unbondingTx: Transaction; exp: UnbondingExpectation }> {
    const exp = expectUnbonding(stake.txid, stake.data, stake.version);
    const unbondingTx = buildUnbondingTx(exp);
    const signature = await this.#signLeaf(
      unbondingTx,
      { script: stake.data.stakingInfo.pkScript, valueSat: stake.data.valueSat },
      stake.data.stakingInfo.unbonding,
      unbondingSighash(unbondingTx, exp),
    );
    return {
      unbondingTx,
      exp,
      body: {
        staking_tx_hash_hex: stake.txid,
        unbonding_tx_hash_hex: unbondingTx.getId(),
        unbonding_tx_hex: unbondingTx.toHex(),
        staker_signed_signature_hex: toHex(signature),
      },
    };
  }

  /** Withdraws the staking output through its timelock leaf to a new wallet address; returns the txid. */
  withdrawStake(stake: DemoStake): Promise<string> {
    return this.#withdraw(
      { txid: stake.txid, vout: stake.data.stakingOutputIndex },
      { script: stake.data.stakingInfo.pkScript, valueSat: stake.data.valueSat },
      stake.data.stakingInfo.timelock,
      stake.data.stakingTime,
    );
  }

  /** Withdraws the unbonding output (output 0 of `unbondingTxid`) through its timelock leaf. */
  withdrawUnbonding(
    unbondingTxid: string,
    exp: UnbondingExpectation,
    version: ParamsVersion,
  ): Promise<string> {
    return this.#withdraw(
      { txid: unbondingTxid, vout: 0 },
      { script: exp.unbondingInfo.pkScript, valueSat: exp.unbondingValueSat },
      exp.unbondingInfo.timelock,
      version.unbondingTime,
    );
  }

  async #withdraw(
    prev: { txid: string; vout: number },
    output: { script: Uint8Array; valueSat: bigint },
    leaf: Leaf,
    timelockBlocks: number,
  ): Promise<string> {
    const to = await this.#wallet.getaddressinfo(await this.#wallet.getnewaddress('withdraw', 'bech32m'));
    const tx = buildTimelockWithdrawTx({
      prevTxid: prev.txid,
      prevVout: prev.vout,
      timelockBlocks,
      prevValueSat: output.valueSat,
      feeSat: WITHDRAW_FEE_SAT,
      outputScript: parseHex(to.scriptPubKey, 'scriptPubKey', 'DEMO_WALLET'),
    });
    const sighash = scriptPathSighash(
      tx,
      0,
      { pkScripts: [output.script], valuesSat: [output.valueSat] },
      leaf,
    );
    const signature = await this.#signLeaf(tx, output, leaf, sighash);
    tx.ins[0]!.witness = buildTimelockWitness(signature, leaf);
    return this.#node.sendrawtransaction(tx.toHex());
  }

  /** The wallet's BIP340 signature by the staker key over `leaf` of `spent`, checked against `sighash`. */
  async #signLeaf(
    tx: Transaction,
    spent: { script: Uint8Array; valueSat: bigint },
    leaf: Leaf,
    sighash: Uint8Array,
  ): Promise<Uint8Array> {
    const req = { key: this.key, sighash, unbondingTx: tx, stakingOutput: spent, leaf };
    const signed = await this.#wallet.walletprocesspsbt(buildSigningPsbt(req).toBase64(), {
      sign: true,
      sighashType: 'DEFAULT',
      finalize: false,
    });
    return pickSignature(signed.psbt, req);
  }
}
