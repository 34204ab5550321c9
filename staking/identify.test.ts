import { Transaction } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { concatBytes, type XOnlyKey } from '../common/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  buildStakingInfo,
  buildStakingOutputs,
  buildV0OpReturn,
  classifyStakingTx,
  parseStakingTx,
  type StakingClassification,
} from './index.ts';
import { v0OpReturnPayload } from './opReturn.ts';

const [c1, c2, c3, c4] = ['c1', 'c2', 'c3', 'c4'].map(testKey) as [
  ReturnType<typeof testKey>,
  ...ReturnType<typeof testKey>[],
];
const staker = testKey('staker');
const fp = testKey('fp');
const params = parseGlobalParams(
  (() => {
    const doc = testParamsDoc([c1, c2!, c3!]);
    // v1 rotates one covenant key: txs built for v0 no longer parse once v1 is in force.
    doc.versions.push({
      ...doc.versions[0]!,
      version: 1,
      activation_height: 200,
      covenant_pks: [c1, c2!, c4!].map((k) => k.compressedHex),
    });
    return doc;
  })(),
);
const v0 = params.versions[0]!;
const TAG = v0.tag;
const H0 = 150; // a height where v0 is in force
const CHANGE = concatBytes(Uint8Array.of(0x00, 0x14), new Uint8Array(20).fill(7));

function txWith(outputs: Array<[Uint8Array, bigint]>): Transaction {
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(new Uint8Array(32).fill(1), 0, 0xfffffffd);
  for (const [s, v] of outputs) tx.addOutput(s, v);
  return tx;
}

function parts(
  o: { stakerKey?: XOnlyKey; fpKey?: XOnlyKey; stakingTime?: number; value?: bigint; tag?: Uint8Array } = {},
) {
  const stakerKey = o.stakerKey ?? staker.xOnly;
  const fpKey = o.fpKey ?? fp.xOnly;
  const stakingTime = o.stakingTime ?? 1000;
  const info = buildStakingInfo(
    { stakerKey, fpKeys: [fpKey], covenantKeys: v0.covenantKeys, covenantQuorum: v0.covenantQuorum },
    stakingTime,
    { allowZeroTimelock: true },
  );
  const opReturn = buildV0OpReturn({ tag: o.tag ?? TAG, stakerKey, fpKey, stakingTime });
  return { staking: info.pkScript, opReturn, value: o.value ?? 1_000_000n };
}

const kindOf = (c: StakingClassification) =>
  c.kind === 'malformed' || c.kind === 'invalid' ? `${c.kind}:${c.code}` : c.kind;

describe('staking-tx identification (staking-protocol.md §4.3) and validity (§4.4)', () => {
  const p = parts();
  const cases: Array<[string, () => Transaction, number, string]> = [
    [
      'a well-formed staking tx is valid',
      () =>
        txWith([
          [p.staking, p.value],
          [p.opReturn, 0n],
          [CHANGE, 5000n],
        ]),
      H0,
      'valid',
    ],
    [
      'output order is free',
      () =>
        txWith([
          [CHANGE, 5000n],
          [p.opReturn, 0n],
          [p.staking, p.value],
        ]),
      H0,
      'valid',
    ],
    ['one output only is not staking', () => txWith([[p.opReturn, 0n]]), H0, 'not-staking'],
    [
      'no OP_RETURN is not staking',
      () =>
        txWith([
          [p.staking, p.value],
          [CHANGE, 1n],
        ]),
      H0,
      'not-staking',
    ],
    [
      'two tagged OP_RETURNs are not staking',
      () =>
        txWith([
          [p.staking, p.value],
          [p.opReturn, 0n],
          [p.opReturn, 0n],
        ]),
      H0,
      'not-staking',
    ],
    [
      'a tx before the first activation height is not staking',
      () =>
        txWith([
          [p.staking, p.value],
          [p.opReturn, 0n],
        ]),
      99,
      'not-staking',
    ],
    [
      'a version byte other than 0 is not staking',
      () => {
        const op = Uint8Array.from(p.opReturn);
        op[6] = 1;
        return txWith([
          [p.staking, p.value],
          [op, 0n],
        ]);
      },
      H0,
      'not-staking',
    ],
    [
      'a second v0 OP_RETURN of another tag makes it malformed',
      () =>
        txWith([
          [p.staking, p.value],
          [p.opReturn, 0n],
          [parts({ tag: Uint8Array.of(9, 9, 9, 9) }).opReturn, 0n],
        ]),
      H0,
      'malformed:STAKING_MULTIPLE_OP_RETURN',
    ],
    [
      'a tagged OP_RETURN whose staker key is not on the curve is malformed',
      () => {
        const op = Uint8Array.from(p.opReturn);
        op.fill(0xff, 7, 39);
        return txWith([
          [p.staking, p.value],
          [op, 0n],
        ]);
      },
      H0,
      'malformed:STAKING_NO_OP_RETURN',
    ],
    [
      'no output paying the rebuilt staking script is malformed',
      () =>
        txWith([
          [parts({ stakingTime: 999 }).staking, p.value],
          [p.opReturn, 0n],
        ]),
      H0,
      'malformed:STAKING_NO_STAKING_OUTPUT',
    ],
    [
      'two outputs paying the staking script are malformed',
      () =>
        txWith([
          [p.staking, p.value],
          [p.opReturn, 0n],
          [p.staking, p.value],
        ]),
      H0,
      'malformed:STAKING_MULTIPLE_STAKING_OUTPUTS',
    ],
    [
      'staker key equal to the finality-provider key is malformed',
      () => {
        const opReturn = buildV0OpReturn({
          tag: TAG,
          stakerKey: staker.xOnly,
          fpKey: staker.xOnly,
          stakingTime: 1000,
        });
        return txWith([
          [p.staking, p.value],
          [opReturn, 0n],
        ]);
      },
      H0,
      'malformed:STAKING_DUPLICATE_KEYS',
    ],
    [
      'staker key equal to a covenant key is malformed',
      () => {
        const opReturn = buildV0OpReturn({
          tag: TAG,
          stakerKey: c1.xOnly,
          fpKey: fp.xOnly,
          stakingTime: 1000,
        });
        return txWith([
          [p.staking, p.value],
          [opReturn, 0n],
        ]);
      },
      H0,
      'malformed:STAKING_DUPLICATE_KEYS',
    ],
    [
      'a tx built for v0 covenants included while v1 is in force does not parse',
      () =>
        txWith([
          [p.staking, p.value],
          [p.opReturn, 0n],
        ]),
      200,
      'malformed:STAKING_NO_STAKING_OUTPUT',
    ],
    [
      'value below the minimum is invalid',
      () =>
        txWith([
          [p.staking, 9_999n],
          [p.opReturn, 0n],
        ]),
      H0,
      'invalid:STAKING_VALUE_OUT_OF_RANGE',
    ],
    [
      'value at the minimum is valid',
      () =>
        txWith([
          [p.staking, 10_000n],
          [p.opReturn, 0n],
        ]),
      H0,
      'valid',
    ],
    [
      'value at the maximum is valid',
      () =>
        txWith([
          [p.staking, 5_000_000_000n],
          [p.opReturn, 0n],
        ]),
      H0,
      'valid',
    ],
    [
      'value above the maximum is invalid',
      () =>
        txWith([
          [p.staking, 5_000_000_001n],
          [p.opReturn, 0n],
        ]),
      H0,
      'invalid:STAKING_VALUE_OUT_OF_RANGE',
    ],
    [
      'staking time below the minimum is invalid',
      () => {
        const q = parts({ stakingTime: 4 });
        return txWith([
          [q.staking, q.value],
          [q.opReturn, 0n],
        ]);
      },
      H0,
      'invalid:STAKING_TIME_OUT_OF_RANGE',
    ],
    [
      'staking time 0 parses as Go does and is invalid',
      () => {
        const q = parts({ stakingTime: 0 });
        return txWith([
          [q.staking, q.value],
          [q.opReturn, 0n],
        ]);
      },
      H0,
      'invalid:STAKING_TIME_OUT_OF_RANGE',
    ],
  ];

  it.each(cases)('%s', (_name, build, height, expected) => {
    expect(kindOf(classifyStakingTx(build(), params, height))).toBe(expected);
  });

  it('reports the staking output index, keys, time and value', () => {
    const tx = txWith([
      [CHANGE, 5000n],
      [p.opReturn, 0n],
      [p.staking, p.value],
    ]);
    const d = parseStakingTx(tx, v0);
    expect([d.stakingOutputIndex, d.opReturnIndex, d.stakingTime, d.valueSat, d.paramsVersion]).toEqual([
      2,
      1,
      1000,
      1_000_000n,
      0,
    ]);
    expect(Buffer.from(d.stakerKey).equals(Buffer.from(staker.xOnly))).toBe(true);
  });

  it('builds outputs that identify as valid staking, and refuses out-of-range amounts', () => {
    const outs = buildStakingOutputs({
      params: v0,
      stakerKey: staker.xOnly,
      fpKey: fp.xOnly,
      stakingTime: 100,
      valueSat: 20_000n,
    });
    const tx = txWith([
      [outs.stakingOutput.script, outs.stakingOutput.valueSat],
      [outs.opReturnOutput.script, 0n],
    ]);
    expect(classifyStakingTx(tx, params, H0).kind).toBe('valid');
    expect(() =>
      buildStakingOutputs({
        params: v0,
        stakerKey: staker.xOnly,
        fpKey: fp.xOnly,
        stakingTime: 100,
        valueSat: 1n,
      }),
    ).toThrow(expect.objectContaining({ code: 'STAKING_VALUE_OUT_OF_RANGE' }));
    expect(() =>
      buildStakingOutputs({
        params: v0,
        stakerKey: staker.xOnly,
        fpKey: fp.xOnly,
        stakingTime: 1,
        valueSat: 20_000n,
      }),
    ).toThrow(expect.objectContaining({ code: 'STAKING_TIME_OUT_OF_RANGE' }));
  });
});

describe('v0 OP_RETURN reading follows btcd IsNullData exactly', () => {
  it('reads pkScript[2:] of any 73-byte single-push null-data script, as Go does', () => {
    const pushdata1 = concatBytes(Uint8Array.of(0x6a, 0x4c, 0x46), new Uint8Array(70).fill(5));
    const payload = v0OpReturnPayload(pushdata1);
    expect(payload?.length).toBe(71);
    expect(payload?.[0]).toBe(0x46);
  });

  it('refuses a 73-byte script with trailing bytes after the push, or no OP_RETURN', () => {
    const trailing = concatBytes(Uint8Array.of(0x6a, 0x46), new Uint8Array(71));
    expect(v0OpReturnPayload(trailing)).toBeUndefined();
    const noReturn = concatBytes(Uint8Array.of(0x00, 0x47), new Uint8Array(71));
    expect(v0OpReturnPayload(noReturn)).toBeUndefined();
  });
});
