import { crypto, script, Transaction } from 'bitcoinjs-lib';
import { concatBytes, ecc, txidToHash } from '../../common/index.ts';
import type { Outpoint } from '../../indexer/testkit/txs.ts';
import { type TestKey, testKey } from '../keys.ts';

/**
 * Ordinary payment traffic for full-block workloads: P2WPKH transactions signed here, the shape
 * most of a real block has (one input with a 72-byte signature and a 33-byte key in its witness,
 * a payment and a change output). A fan-out transaction spends one OP_TRUE coin into `width`
 * outputs of a key of ours; each block then spends every one of them once, each transaction's
 * change becoming the coin the next block spends. Signed here with the Node services' curve
 * (common/index.ts `ecc`) and no fee: no wallet RPC, and `generateblock` takes the transactions as
 * they are.
 */
export class PaymentTraffic {
  readonly #key: TestKey;
  readonly #pub: Uint8Array;
  readonly #script: Uint8Array;
  readonly #scriptCode: Uint8Array;
  readonly #payee: Uint8Array;
  #coins: Outpoint[] = [];

  constructor(label = 'payment-traffic') {
    this.#key = testKey(label);
    this.#pub = ecc.pointFromScalar(this.#key.privateKey, true)!;
    const h160 = crypto.hash160(this.#pub);
    this.#script = concatBytes(Uint8Array.of(0x00, 0x14), h160);
    // BIP143: the script code of P2WPKH is the P2PKH script of the key hash.
    this.#scriptCode = concatBytes(Uint8Array.of(0x76, 0xa9, 0x14), h160, Uint8Array.of(0x88, 0xac));
    this.#payee = concatBytes(Uint8Array.of(0x00, 0x14), new Uint8Array(20).fill(0x77));
  }

  /**
   * The fan-out of `funding` (an OP_TRUE coin, spent with an empty script) into `width` coins of
   * ours, which the next `block` calls spend; it must be mined before, or first in, their block.
   */
  fund(funding: Outpoint, width: number): Transaction {
    const each = funding.valueSat / BigInt(width);
    if (each < 10_000n)
      throw new Error(`PaymentTraffic: ${funding.valueSat} sat is too little for ${width} coins`);
    const tx = new Transaction();
    tx.version = 2;
    tx.addInput(txidToHash(funding.txid, 'BENCH'), funding.vout);
    for (let i = 0; i < width; i++) tx.addOutput(this.#script, each);
    const txid = tx.getId();
    this.#coins = Array.from({ length: width }, (_, vout) => ({ txid, vout, valueSat: each }));
    return tx;
  }

  /** One payment per coin (every coin spent once), each paying `paySat` and keeping the change. */
  block(paySat = 1_000n): Transaction[] {
    const out: Transaction[] = [];
    this.#coins = this.#coins.map((c) => {
      if (c.valueSat < paySat * 2n) throw new Error('PaymentTraffic: a coin is spent out');
      const tx = new Transaction();
      tx.version = 2;
      tx.addInput(txidToHash(c.txid, 'BENCH'), c.vout, 0xfffffffd);
      tx.addOutput(this.#payee, paySat);
      tx.addOutput(this.#script, c.valueSat - paySat);
      const hash = tx.hashForWitnessV0(0, this.#scriptCode, c.valueSat, Transaction.SIGHASH_ALL);
      const sig = script.signature.encode(ecc.sign(hash, this.#key.privateKey), Transaction.SIGHASH_ALL);
      tx.ins[0]!.witness = [sig, this.#pub];
      out.push(tx);
      return { txid: tx.getId(), vout: 1, valueSat: c.valueSat - paySat };
    });
    return out;
  }
}
