import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodedError } from '../common/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  assertUnbondingTx,
  buildStakingOutputs,
  buildUnbondingTx,
  classifyStakingOutputSpend,
  classifyStakingTx,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  verifyStakerUnbondingSignature,
} from './index.ts';

const covenants = ['c1', 'c2', 'c3'].map(testKey);
const staker = testKey('staker');
const params = parseGlobalParams(testParamsDoc(covenants));
const v0 = params.versions[0]!;
const outs = buildStakingOutputs({
  params: v0,
  stakerKey: staker.xOnly,
  fpKey: testKey('fp').xOnly,
  stakingTime: 100,
  valueSat: 50_000n,
});
const stakingTx = new Transaction();
stakingTx.version = 2;
stakingTx.addInput(new Uint8Array(32).fill(3), 1);
stakingTx.addOutput(outs.stakingOutput.script, outs.stakingOutput.valueSat);
stakingTx.addOutput(outs.opReturnOutput.script, 0n);
const data = parseStakingTx(stakingTx, v0);
const exp = expectUnbonding(stakingTx.getId(), data, v0);
const validHexes = [stakingTx.toHex(), buildUnbondingTx(exp).toHex()];

/** Applies a random byte edit: flip, insert, delete or truncate. */
const mutatedBytes = fc
  .tuple(
    fc.constantFrom(...validHexes),
    fc.nat(),
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom('flip', 'insert', 'delete', 'truncate'),
  )
  .map(([hex, pos, byte, op]) => {
    const b = Buffer.from(hex, 'hex');
    const i = pos % b.length;
    if (op === 'flip') b[i] = byte;
    else if (op === 'truncate') return Uint8Array.from(b.subarray(0, i));
    else if (op === 'delete') return Uint8Array.from(Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]));
    else return Uint8Array.from(Buffer.concat([b.subarray(0, i), Buffer.of(byte), b.subarray(i)]));
    return Uint8Array.from(b);
  });

/** Runs fn; passes when it returns or throws a CodedError, fails on any other exception. */
function onlyCoded(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CodedError)) throw new Error(`uncoded exception: ${String(e)}`, { cause: e });
  }
}

describe('malformed input never crashes staking/ and never passes a check it should not', () => {
  it('parseTransaction gives a tx or a coded error for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => onlyCoded(() => parseTransaction(b))),
      { numRuns: 3000 },
    );
  });

  it('parseTransaction gives a tx or a coded error for random strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => onlyCoded(() => parseTransaction(s))),
      { numRuns: 2000 },
    );
  });

  it('every stage copes with mutated staking and unbonding transactions', () => {
    fc.assert(
      fc.property(mutatedBytes, (bytes) => {
        let tx: Transaction;
        try {
          tx = parseTransaction(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(CodedError);
          return;
        }
        const c = classifyStakingTx(tx, params, 150);
        expect(['not-staking', 'malformed', 'invalid', 'valid']).toContain(c.kind);
        let accepted = false;
        onlyCoded(() => {
          assertUnbondingTx(tx, exp);
          accepted = true;
        });
        // A mutated tx the strict check accepts must serialise to exactly the expected unbonding tx.
        if (accepted) expect(tx.getId()).toBe(buildUnbondingTx(exp).getId());
        if (tx.ins.length > 0) classifyStakingOutputSpend(tx, 0, exp, data.stakingInfo.timelock);
        expect(typeof verifyStakerUnbondingSignature(tx, exp, staker.xOnly, new Uint8Array(64))).toBe(
          'boolean',
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('parseGlobalParams gives params or a coded error for arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => onlyCoded(() => parseGlobalParams(v))),
      { numRuns: 2000 },
    );
    const base = testParamsDoc(covenants).versions[0]!;
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(base)), fc.jsonValue(), (field, value) =>
        onlyCoded(() => parseGlobalParams({ versions: [{ ...base, [field]: value }] })),
      ),
      { numRuns: 2000 },
    );
  });
});
