/**
 * The busy chain both indexer benches build (bench:indexer's first workload, and the main-thread
 * replay of it): its global parameters and its ordinary traffic, in one place so that the replay
 * measures the blocks the whole bench measures.
 */
import { Transaction } from 'bitcoinjs-lib';
import { concatBytes, txidToHash } from '../../common/index.ts';
import { testParamsDoc } from '../../test/keys.ts';
import type { ChainKit } from '../testkit/chain.ts';
import { SCENARIO_COVENANTS } from '../testkit/scenario.ts';
import { OP_TRUE_SCRIPT } from '../testkit/txs.ts';

/** Confirmation depth of the benches' parameters. */
export const BENCH_DEPTH = 10;

/** The parameters document, active from `start`: wide enough limits for every staking tx built. */
export function benchParamsDoc(start: number): ReturnType<typeof testParamsDoc> {
  return testParamsDoc(SCENARIO_COVENANTS, {
    activation_height: start,
    staking_cap: 1_000_000_000_000,
    min_staking_amount: 10_000,
    max_staking_amount: 1_000_000,
    min_staking_time: 5,
    max_staking_time: 1000,
    unbonding_time: 3,
    confirmation_depth: BENCH_DEPTH,
  });
}

const PKH_SHAPED = concatBytes(Uint8Array.of(0x00, 0x14), new Uint8Array(20).fill(0x42));

/**
 * Ordinary traffic of a busy block: a chain of `count` txs from one OP_TRUE coin, each with a
 * P2WPKH-shaped output and the OP_TRUE output the next one spends (no signatures to make).
 */
export function opTrueFiller(kit: ChainKit, count: number): () => Transaction[] {
  return () => {
    const out: Transaction[] = [];
    let prev = kit.coin();
    for (let i = 0; i < count; i++) {
      const tx = new Transaction();
      tx.version = 2;
      tx.addInput(txidToHash(prev.txid, 'BENCH'), prev.vout);
      tx.addOutput(PKH_SHAPED, 0n);
      tx.addOutput(OP_TRUE_SCRIPT, prev.valueSat);
      out.push(tx);
      prev = { txid: tx.getId(), vout: 1, valueSat: prev.valueSat };
    }
    return out;
  };
}
