import { describe, expect, it } from 'vitest';
import { compareBytes, isCodedError, toHex } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import { buildStakingInfo, buildUnbondingInfo, buildUnbondingWitness } from './index.ts';
import { buildSlashingWitness } from './witness.ts';

/*
 * The slashing-path witness. Consensus acceptance is proven on a real node in
 * test/phase2Consensus.int.test.ts; here, the layout against the leaf's own key order, and the refusals.
 */
const covenants = ['w-c1', 'w-c2', 'w-c3'].map(testKey);
const staker = testKey('w-staker');
const fps = ['w-fp1', 'w-fp2', 'w-fp3'].map(testKey);
const covenantKeys = covenants.map((k) => k.xOnly);
const msg = new Uint8Array(32).fill(4);
const sig = (k: (typeof covenants)[number]) => ({ key: k.xOnly, signature: k.sign(msg) });
const descending = <T extends { xOnly: Uint8Array }>(ks: readonly T[]): T[] =>
  [...ks].sort((a, b) => compareBytes(b.xOnly, a.xOnly));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isCodedError(e) ? e.code : String(e);
  }
  return undefined;
}

/** The keys a leaf pushes (`20 <32 bytes>`), in script order. */
function pushedKeys(script: Uint8Array): string[] {
  const keys: string[] = [];
  for (let i = 0; i < script.length; ) {
    if (script[i] === 0x20) {
      keys.push(toHex(script.subarray(i + 1, i + 33)));
      i += 33;
    } else i += 1;
  }
  return keys;
}

describe('buildSlashingWitness', () => {
  const info = buildStakingInfo(
    { stakerKey: staker.xOnly, fpKeys: [fps[0]!.xOnly], covenantKeys, covenantQuorum: 2 },
    100,
  );
  const args = {
    covenantKeys,
    quorum: 2,
    covenantSignatures: [sig(covenants[2]!), sig(covenants[0]!)],
    fpKeys: [fps[0]!.xOnly],
    fpSignature: sig(fps[0]!),
    stakerSignature: staker.sign(msg),
    leaf: info.slashing,
  };

  it('with one FP: the stack, read from the top, follows the leaf’s key order', () => {
    const w = buildSlashingWitness(args);
    expect(w).toHaveLength(3 + 1 + 1 + 2);
    expect(toHex(w[5]!)).toBe(toHex(info.slashing.script));
    expect(toHex(w[6]!)).toBe(toHex(info.slashing.controlBlock));
    // Each key in the leaf pops the next item off the top: the staker's, the FP's, then c1 < c2 < c3.
    const fromTop = w.slice(0, 5).reverse();
    const signerOf = new Map(
      [staker, fps[0]!, ...covenants].map((k) => [toHex(k.xOnly), toHex(k.sign(msg))] as const),
    );
    const expected = pushedKeys(info.slashing.script).map((k) =>
      k === toHex(covenants[1]!.xOnly) ? '' : signerOf.get(k),
    );
    expect(fromTop.map(toHex)).toEqual(expected);
  });

  it('has the covenant slots of the unbonding witness (exactly quorum filled)', () => {
    const slashing = buildSlashingWitness({ ...args, covenantSignatures: covenants.map(sig) });
    const unbonding = buildUnbondingWitness({
      covenantKeys,
      quorum: 2,
      covenantSignatures: covenants.map(sig),
      stakerSignature: args.stakerSignature,
      leaf: info.unbonding,
    });
    expect(slashing.slice(0, 3).map(toHex)).toEqual(unbonding.slice(0, 3).map(toHex));
    expect(slashing.slice(0, 3).filter((x) => x.length === 64)).toHaveLength(2);
  });

  it('with several FPs (1-of-n): one slot per FP in descending key order, only the slashed one filled', () => {
    const fpKeys = fps.map((k) => k.xOnly);
    const multi = buildUnbondingInfo({ stakerKey: staker.xOnly, fpKeys, covenantKeys, covenantQuorum: 2 }, 5);
    const w = buildSlashingWitness({ ...args, fpKeys, fpSignature: sig(fps[1]!), leaf: multi.slashing });
    expect(w).toHaveLength(3 + 3 + 1 + 2);
    expect(w.slice(3, 6).map(toHex)).toEqual(
      descending(fps).map((k) => (k === fps[1] ? toHex(k.sign(msg)) : '')),
    );
    // The FP keys are pushed ascending, so the top FP slot belongs to the smallest key.
    const fpPushed = pushedKeys(multi.slashing.script).slice(1, 4);
    expect(fpPushed).toEqual([...fpPushed].sort());
    expect(toHex(descending(fps).at(-1)!.xOnly)).toBe(fpPushed[0]);
  });

  it('refuses a short quorum, unknown or duplicate keys, and signatures that are not 64 bytes', () => {
    expect(codeOf(() => buildSlashingWitness({ ...args, covenantSignatures: [sig(covenants[0]!)] }))).toBe(
      'STAKING_QUORUM_NOT_MET',
    );
    expect(codeOf(() => buildSlashingWitness({ ...args, fpSignature: sig(fps[1]!) }))).toBe(
      'STAKING_WITNESS_UNKNOWN_KEY',
    );
    expect(codeOf(() => buildSlashingWitness({ ...args, fpSignature: sig(covenants[0]!) }))).toBe(
      'STAKING_WITNESS_UNKNOWN_KEY',
    );
    expect(
      codeOf(() =>
        buildSlashingWitness({ ...args, covenantSignatures: [sig(covenants[0]!), sig(covenants[0]!)] }),
      ),
    ).toBe('STAKING_WITNESS_DUPLICATE_KEY');
    const presigLength = { key: fps[0]!.xOnly, signature: new Uint8Array(65) };
    expect(codeOf(() => buildSlashingWitness({ ...args, fpSignature: presigLength }))).toBe(
      'STAKING_INVALID_SIGNATURE',
    );
    expect(codeOf(() => buildSlashingWitness({ ...args, stakerSignature: new Uint8Array(0) }))).toBe(
      'STAKING_INVALID_SIGNATURE',
    );
  });
});
