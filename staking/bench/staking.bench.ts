/**
 * `npm run bench:staking`: staking-tx identification and strict unbonding checks per second on a
 * generated set, beside bitcoinjs-lib's raw parse rate of the same transactions in the same run.
 */
import { createHash } from 'node:crypto';
import { Transaction } from 'bitcoinjs-lib';
import { concatBytes } from '../../common/index.ts';
import { parseGlobalParams } from '../../params/index.ts';
import { measure, printRates, printResult, ratio } from '../../test/bench/measure.ts';
import { testKey } from '../../test/keys.ts';
import {
  assertUnbondingTx,
  buildStakingOutputs,
  buildUnbondingTx,
  classifyStakingTx,
  decodeTransaction,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  unbondingSighash,
  verifyStakerUnbondingSignature,
} from '../index.ts';

const N = Number(process.env.BENCH_TXS ?? 20_000);
const STAKING_SHARE = Number(process.env.BENCH_STAKING_SHARE ?? 0.05);

// Mainnet-shaped params: 9 covenant keys, quorum 6 (342-byte unbonding leaf).
const covenants = Array.from({ length: 9 }, (_, i) => testKey(`bench-cov-${i}`));
const params = parseGlobalParams({
  versions: [
    {
      version: 0,
      activation_height: 100,
      staking_cap: 100_000_000_000,
      tag: '62626e31',
      covenant_pks: covenants.map((k) => k.compressedHex),
      covenant_quorum: 6,
      unbonding_time: 1008,
      unbonding_fee: 32_000,
      max_staking_amount: 5_000_000_000,
      min_staking_amount: 500_000,
      max_staking_time: 64_000,
      min_staking_time: 64_000,
      confirmation_depth: 10,
    },
  ],
});
const v0 = params.versions[0]!;
const seed = (i: number, s: string) => Uint8Array.from(createHash('sha256').update(`${s}${i}`).digest());
const p2wpkh = (i: number) => concatBytes(Uint8Array.of(0x00, 0x14), seed(i, 'pkh').subarray(0, 20));

console.log(
  `generating ${N} transactions (${(STAKING_SHARE * 100).toFixed(0)}% staking) and ${Math.round(N / 10)} signed unbonding requests…`,
);
const stakers = Array.from({ length: 64 }, (_, i) => testKey(`bench-staker-${i}`));
const fp = testKey('bench-fp');
const mixed: Uint8Array[] = [];
const staking: Uint8Array[] = [];
const unbonding: Array<{
  txid: string;
  stakingHex: Uint8Array;
  unbondingHex: Uint8Array;
  sig: Uint8Array;
  staker: number;
}> = [];
for (let i = 0; i < N; i++) {
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(seed(i, 'in'), i % 3, 0xfffffffd);
  tx.ins[0]!.witness = [seed(i, 'sig'), concatBytes(Uint8Array.of(2), seed(i, 'pk'))];
  if (i < N * STAKING_SHARE) {
    const staker = stakers[i % stakers.length]!;
    const outs = buildStakingOutputs({
      params: v0,
      stakerKey: staker.xOnly,
      fpKey: fp.xOnly,
      stakingTime: 64_000,
      valueSat: 1_000_000n + BigInt(i),
    });
    tx.addOutput(outs.stakingOutput.script, outs.stakingOutput.valueSat);
    tx.addOutput(outs.opReturnOutput.script, 0n);
    tx.addOutput(p2wpkh(i), 10_000n);
    staking.push(tx.toBuffer());
  } else {
    tx.addOutput(p2wpkh(i), 100_000n + BigInt(i));
    tx.addOutput(p2wpkh(i + 1), 5_000n);
  }
  mixed.push(tx.toBuffer());
}
for (let i = 0; i < Math.max(1, Math.round(N / 10)); i++) {
  const sb = staking[i % staking.length]!;
  const stx = Transaction.fromBuffer(sb);
  const data = parseStakingTx(stx, v0);
  const exp = expectUnbonding(stx.getId(), data, v0);
  const utx = buildUnbondingTx(exp);
  const staker = stakers.findIndex((k) => Buffer.from(k.xOnly).equals(Buffer.from(data.stakerKey)));
  unbonding.push({
    txid: stx.getId(),
    stakingHex: sb,
    unbondingHex: utx.toBuffer(),
    sig: stakers[staker]!.sign(unbondingSighash(utx, exp)),
    staker,
  });
}

const rawAll = measure('bitcoinjs-lib Transaction.fromBuffer (mixed set)', mixed, (b) => {
  Transaction.fromBuffer(b);
});
// For information: staking/'s own decoder (what parseTransaction uses), on the same set.
const decodeAll = measure('staking/ decodeTransaction (mixed set)', mixed, (b) => {
  decodeTransaction(b);
});
const identifyAll = measure('parse + classifyStakingTx (mixed set)', mixed, (b) => {
  classifyStakingTx(parseTransaction(b), params, 200);
});
const rawStaking = measure('bitcoinjs-lib Transaction.fromBuffer (staking txs only)', staking, (b) => {
  Transaction.fromBuffer(b);
});
const identifyStaking = measure('parse + classifyStakingTx (staking txs only)', staking, (b) => {
  const c = classifyStakingTx(parseTransaction(b), params, 200);
  if (c.kind !== 'valid') throw new Error('bench: expected a valid staking tx');
});
const rawUnbonding = measure('bitcoinjs-lib Transaction.fromBuffer (unbonding txs)', unbonding, (u) => {
  Transaction.fromBuffer(u.unbondingHex);
});
const checkUnbonding = measure(
  'full unbonding check (parse both, identify, expect, assert, verify sig)',
  unbonding,
  (u) => {
    const stx = parseTransaction(u.stakingHex);
    const data = parseStakingTx(stx, v0);
    const exp = expectUnbonding(u.txid, data, v0);
    const utx = parseTransaction(u.unbondingHex);
    assertUnbondingTx(utx, exp);
    if (!verifyStakerUnbondingSignature(utx, exp, data.stakerKey, u.sig))
      throw new Error('bench: signature must verify');
  },
);

printRates('staking/ throughput (one core, best of 3 rounds)', [
  rawAll,
  decodeAll,
  identifyAll,
  rawStaking,
  identifyStaking,
  rawUnbonding,
  checkUnbonding,
]);
console.log('\nratios');
console.log(`  ${ratio(decodeAll, rawAll)}`);
console.log(`  ${ratio(identifyAll, rawAll)}`);
console.log(`  ${ratio(identifyStaking, rawStaking)}`);
console.log(`  ${ratio(checkUnbonding, rawUnbonding)}`);
printResult({
  identify_per_s: Math.round(identifyAll.perSecond),
  identify_ratio: identifyAll.perSecond / rawAll.perSecond,
  unbonding_check_per_s: Math.round(checkUnbonding.perSecond),
  unbonding_check_ratio: checkUnbonding.perSecond / rawUnbonding.perSecond,
});
