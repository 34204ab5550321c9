import { Transaction } from 'bitcoinjs-lib';
import type { RegtestNode } from '../../bitcoind/index.ts';
import { txidToHash } from '../../common/index.ts';
import { OP_TRUE_SCRIPT, type Outpoint } from './txs.ts';

/**
 * Writes a regtest chain block by block with exactly the transactions a test wants in each block
 * (`generateblock` with raw transactions: consensus checks only, so non-standard outputs and huge
 * OP_RETURNs can be mined too). Coins are bare OP_TRUE outputs: coinbases pay `raw(51)` and
 * spending needs no signature, so thousands of funding inputs cost nothing to make.
 */
export class ChainKit {
  readonly node: RegtestNode;
  readonly #descriptor: string;
  readonly #coinbases: Outpoint[] = [];
  readonly #coins: Outpoint[] = [];
  readonly #pending: Transaction[] = [];

  private constructor(node: RegtestNode, descriptor: string) {
    this.node = node;
    this.#descriptor = descriptor;
  }

  /** Mines `mature` + 1 blocks to OP_TRUE; the first coinbases become spendable. */
  static async create(node: RegtestNode, opts: { mature?: number } = {}): Promise<ChainKit> {
    const { checksum } = await node.rpc.getdescriptorinfo('raw(51)');
    const kit = new ChainKit(node, `raw(51)#${checksum}`);
    const n = (opts.mature ?? 10) + 100;
    const hashes = await node.rpc.call<string[]>('generatetodescriptor', [n, kit.#descriptor]);
    for (const h of hashes.slice(0, n - 100)) {
      const b = await node.rpc.getblock(h);
      const height = b.height;
      kit.#coinbases.push({ txid: b.tx[0]!, vout: 0, valueSat: subsidy(height) });
    }
    return kit;
  }

  /** The coinbase descriptor (`raw(51)#…`) for generateblock. */
  get descriptor(): string {
    return this.#descriptor;
  }

  async height(): Promise<number> {
    return this.node.rpc.getblockcount();
  }

  /**
   * A fresh OP_TRUE coin of `valueSat`. Coins come from fan-out txs that go first into the next
   * mined block.
   */
  coin(valueSat = 10_000_000n): Outpoint {
    const i = this.#coins.findIndex((c) => c.valueSat === valueSat);
    if (i >= 0) return this.#coins.splice(i, 1)[0]!;
    const cb = this.#coinbases.shift();
    if (!cb) throw new Error('ChainKit: out of mature coinbases');
    const fan = new Transaction();
    fan.version = 2;
    fan.addInput(txidToHash(cb.txid, 'TEST'), cb.vout);
    const n = Number(
      (cb.valueSat - 100_000n) / valueSat > 2000n ? 2000n : (cb.valueSat - 100_000n) / valueSat,
    );
    for (let k = 0; k < n; k++) fan.addOutput(OP_TRUE_SCRIPT, valueSat);
    const txid = fan.getId();
    this.#pending.push(fan);
    for (let k = 1; k < n; k++) this.#coins.push({ txid, vout: k, valueSat });
    return { txid, vout: 0, valueSat };
  }

  /** Fan-out txs waiting for the next block. */
  takePending(): Transaction[] {
    return this.#pending.splice(0);
  }

  /** Mines one block with the pending fan-outs, then `txs`, in that order. */
  async mine(txs: readonly Transaction[] = []): Promise<{ hash: string; height: number }> {
    const all = [...this.takePending(), ...txs];
    const { hash } = await this.node.rpc.generateblock(
      this.#descriptor,
      all.map((t) => t.toHex()),
    );
    return { hash, height: await this.node.rpc.getblockcount() };
  }

  async mineEmpty(n: number): Promise<void> {
    await this.node.rpc.call('generatetodescriptor', [n, this.#descriptor]);
  }

  /** Mines until the tip is `height`. */
  async mineTo(height: number): Promise<void> {
    const tip = await this.height();
    if (tip < height) await this.mineEmpty(height - tip);
  }
}

/** Regtest block subsidy: 50 BTC halving every 150 blocks. */
export function subsidy(height: number): bigint {
  const halvings = Math.floor(height / 150);
  return halvings >= 64 ? 0n : 5_000_000_000n >> BigInt(halvings);
}
