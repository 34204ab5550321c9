import { createRequire } from 'node:module';
import {
  createWitness,
  initBTCCurve,
  StakingScriptData,
  stakingTransaction,
  unbondingTransaction,
} from '@babylonlabs-io/btc-staking-ts';
import { address, Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import * as ecc from 'tiny-secp256k1';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CodedError,
  concatBytes,
  parseCompressedKey,
  toHex,
  type XOnlyKey,
  xOnlyOf,
} from '../common/index.ts';
import { type ParamsVersion, parseGlobalParams } from '../params/index.ts';
import {
  assertUnbondingTx,
  buildStakingInfo,
  buildUnbondingInfo,
  buildUnbondingTx,
  buildUnbondingWitness,
  buildV0OpReturn,
  type CovenantSignature,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  type StakingScriptKeys,
} from './index.ts';

/*
 * Property-based cross-check of staking/ against Babylon's own phase-1 TypeScript library,
 * @babylonlabs-io/btc-staking-ts 0.3.0, the version the phase-1 dApp used (staking-protocol.md
 * §11). Each property gives both the same random inputs and compares the bytes as hex. The library
 * bundles bitcoinjs-lib 6 (Buffer, number amounts); we use bitcoinjs-lib 7 (Uint8Array, bigint),
 * so values cross over as Buffers, numbers and hex.
 *
 * Differences, each pinned by a test in the last describe block (ours follows Babylon's Go code):
 *  - the library's duplicate-key check never fires across roles (a Set of Buffers compares by
 *    reference); ours refuses them, like Go's checkForDuplicateKeys;
 *  - the library's createWitness puts in every covenant signature it is given; ours keeps exactly
 *    `quorum`, like cli-tools (one more makes `<q> OP_NUMEQUAL` fail);
 *  - the library refuses an unbonding output below the 546-sat dust limit; ours builds any positive
 *    value (Go neither; Babylon's params guarantee ≥ 1,000 sat, so valid params never reach it).
 */

const RUNS = { numRuns: 1000 };
/** 1,000 PSBT cases take ~10 s on an idle core; leave room for a busy 2-core machine. */
const PSBT_TIMEOUT_MS = 120_000;
/** bitcoinjs-lib 6 refuses output values above 21e6 BTC (its Satoshi type). */
const MAX_MONEY = 2_100_000_000_000_000n;
/** The library refuses unbonding outputs below this (its BTC_DUST_SAT). */
const LIB_DUST_SAT = 546n;

// The bitcoinjs-lib 6 copy the library itself loads: its Transaction is what unbondingTransaction
// reads (getHash(), outs[i].value as a number) and its networks are what the PSBT builders expect.
type LibTransaction = Parameters<typeof unbondingTransaction>[1];
type LibNetwork = Parameters<typeof stakingTransaction>[4];
type LibPsbt = ReturnType<typeof unbondingTransaction>['psbt'];
const libRequire = createRequire(createRequire(import.meta.url).resolve('@babylonlabs-io/btc-staking-ts'));
const bitcoinjs6 = libRequire('bitcoinjs-lib') as {
  Transaction: { fromHex(hex: string): LibTransaction };
  networks: Record<'bitcoin' | 'testnet' | 'regtest', LibNetwork>;
  initEccLib(eccLib: unknown): void;
};
const NETWORKS = [
  { lib: bitcoinjs6.networks.bitcoin, hrp: 'bc' },
  { lib: bitcoinjs6.networks.testnet, hrp: 'tb' },
  { lib: bitcoinjs6.networks.regtest, hrp: 'bcrt' },
] as const;

/**
 * The library's p2tr payments need an ECC backend. Its initBTCCurve() installs
 * @bitcoin-js/tiny-secp256k1-asmjs 2.2.3, the asm.js build of tiny-secp256k1: ~17 ms per taproot
 * tweak, so 1,000 PSBT cases would take minutes. The properties install the WebAssembly build of
 * the same code (tiny-secp256k1 2.2.4, the backend bitcoinjs-lib 6 documents) into the library's
 * own bitcoinjs-lib copy instead; one test checks that both backends give the same bytes.
 */
function useWasmCurve(): void {
  bitcoinjs6.initEccLib(ecc);
}
beforeAll(useWasmCurve);

const buf = (b: Uint8Array): Buffer => Buffer.from(b);
const hex = (b: Uint8Array): string => toHex(b);

// ---------------------------------------------------------------------------------------------
// Arbitraries, one per input kind

/** A valid BIP340 x-only key: the x coordinate of a random private key's public point. */
const xOnlyKey = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .filter((sk) => ecc.isPrivate(sk))
  .map((sk) => xOnlyOf(parseCompressedKey(ecc.pointFromScalar(sk, true), 'test key', 'TEST_KEY')));

interface CaseKeys {
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly covenantKeys: XOnlyKey[];
  readonly covenantQuorum: number;
}

/** Staker, one finality provider and 1–20 covenant keys, pairwise distinct, and a quorum in [1, n]. */
const caseKeys: fc.Arbitrary<CaseKeys> = fc
  // size 'max': lengths spread over the whole range (the default 'small' stops near 16 keys).
  .uniqueArray(xOnlyKey, { minLength: 3, maxLength: 22, selector: hex, size: 'max' })
  .chain(([stakerKey, fpKey, ...covenantKeys]) =>
    fc.integer({ min: 1, max: covenantKeys.length }).map((covenantQuorum) => ({
      stakerKey: stakerKey!,
      fpKey: fpKey!,
      covenantKeys,
      covenantQuorum,
    })),
  );

/** A timelock in blocks, with the script-number encoding edges (OP_16/17, sign byte, 3 bytes) forced in. */
const timelock = fc.oneof(
  fc.constantFrom(1, 16, 17, 127, 128, 255, 256, 32767, 32768, 65535),
  fc.integer({ min: 1, max: 65535 }),
);

/** A 4-byte params tag ("magic bytes"). */
const tag = fc.uint8Array({ minLength: 4, maxLength: 4 });

/** Unbonding fee and staking value in sats with value − fee ≥ minUnbondingOutput; value < 21e6 BTC. */
const amounts = (minUnbondingOutput: bigint) =>
  fc
    .tuple(
      fc.bigInt({ min: 1n, max: 10_000_000n }),
      fc.bigInt({ min: minUnbondingOutput, max: MAX_MONEY / 2n }),
    )
    .map(([unbondingFeeSat, unbondingOutputSat]) => ({
      unbondingFeeSat,
      stakingValueSat: unbondingFeeSat + unbondingOutputSat,
    }));

interface StakingCase {
  readonly keys: CaseKeys;
  readonly stakingTime: number;
  readonly unbondingTime: number;
  readonly tag: Uint8Array;
  readonly unbondingFeeSat: bigint;
  readonly stakingValueSat: bigint;
}

/** Everything a staking position is made of: keys, quorum, both timelocks, tag, value and fee. */
const stakingCase = (minUnbondingOutput: bigint): fc.Arbitrary<StakingCase> =>
  fc
    .record({
      keys: caseKeys,
      stakingTime: timelock,
      unbondingTime: timelock,
      tag,
      amounts: amounts(minUnbondingOutput),
    })
    .map(({ amounts: a, ...rest }) => ({ ...rest, ...a }));

const txHash = fc.uint8Array({ minLength: 32, maxLength: 32 });
const network = fc.constantFrom(...NETWORKS);

/** A wallet output script: P2WPKH (random 20-byte hash) or P2TR (random valid key). */
const walletScript = fc.oneof(
  fc.uint8Array({ minLength: 20, maxLength: 20 }).map((h) => concatBytes(Uint8Array.of(0x00, 0x14), h)),
  xOnlyKey.map((k) => concatBytes(Uint8Array.of(0x51, 0x20), k)),
);

/** What the library's stakingTransaction needs besides the scripts: UTXOs, fee rate, change, lock height. */
const funding = fc.record({
  utxos: fc.array(
    fc.record({
      txid: txHash,
      vout: fc.nat({ max: 20 }),
      script: walletScript,
      share: fc.integer({ min: 1, max: 100 }),
    }),
    {
      minLength: 1,
      maxLength: 3,
    },
  ),
  feeRate: fc.integer({ min: 1, max: 500 }),
  /** Funds beyond the worst-case fee: small surpluses leave dust (no change output), larger ones change. */
  surplus: fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 100_000 })),
  changeScript: walletScript,
  network,
  lockHeight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 499_999_999 })),
});
type Funding = typeof funding extends fc.Arbitrary<infer T> ? T : never;

/** Where a staking tx comes from and where its staking and OP_RETURN outputs sit among 0–4 wallet outputs. */
const stakingTxLayout = fc.record({
  prevHash: txHash,
  prevIndex: fc.nat(),
  others: fc.array(fc.record({ script: walletScript, value: fc.bigInt({ min: 0n, max: MAX_MONEY }) }), {
    maxLength: 4,
  }),
  stakingPos: fc.nat(),
  opReturnPos: fc.nat(),
  network,
});
type StakingTxLayout = typeof stakingTxLayout extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------------------------
// The two implementations, called the way their users call them

function ourKeys(k: CaseKeys): StakingScriptKeys {
  return {
    stakerKey: k.stakerKey,
    fpKeys: [k.fpKey],
    covenantKeys: k.covenantKeys,
    covenantQuorum: k.covenantQuorum,
  };
}

function ourOpReturn(c: StakingCase): Uint8Array {
  return buildV0OpReturn({
    tag: c.tag,
    stakerKey: c.keys.stakerKey,
    fpKey: c.keys.fpKey,
    stakingTime: c.stakingTime,
  });
}

/** The library's scripts; every key is its own Buffer object, as keys decoded from hex are. */
function libScripts(c: Pick<StakingCase, 'keys' | 'stakingTime' | 'unbondingTime' | 'tag'>) {
  return new StakingScriptData(
    buf(c.keys.stakerKey),
    [buf(c.keys.fpKey)],
    c.keys.covenantKeys.map(buf),
    c.keys.covenantQuorum,
    c.stakingTime,
    c.unbondingTime,
    buf(c.tag),
  ).buildScripts();
}

/** A params version (through our strict parser) whose covenants, quorum, tag, U and fee are the case's. */
function paramsFor(c: StakingCase): ParamsVersion {
  const fee = Number(c.unbondingFeeSat);
  return parseGlobalParams({
    versions: [
      {
        version: 0,
        activation_height: 1,
        staking_cap: Number.MAX_SAFE_INTEGER,
        tag: hex(c.tag),
        // An x-only key is the even-y point, i.e. the 02-prefixed compressed key.
        covenant_pks: c.keys.covenantKeys.map((k) => `02${hex(k)}`),
        covenant_quorum: c.keys.covenantQuorum,
        unbonding_time: c.unbondingTime,
        unbonding_fee: fee,
        max_staking_amount: Number.MAX_SAFE_INTEGER,
        min_staking_amount: fee + 1000,
        max_staking_time: 65535,
        min_staking_time: 1,
        confirmation_depth: 6,
      },
    ],
  }).versions[0]!;
}

/** The library's staking PSBT, funded with fake UTXOs that together cover its worst-case fee estimate. */
function libStakingPsbt(c: StakingCase, f: Funding): LibPsbt {
  const amount = Number(c.stakingValueSat);
  // The estimator (§4.5) at worst: 3 P2WPKH inputs, staking + OP_RETURN + change, low-rate buffer.
  const total = amount + (3 * 68 + 43 + 82 + 11 + 43) * f.feeRate + 30 + f.surplus;
  const shares = f.utxos.reduce((a, u) => a + u.share, 0);
  const values = f.utxos.map((u) => Math.floor((total * u.share) / shares));
  values[0]! += total - values.reduce((a, v) => a + v, 0);
  const utxos = f.utxos.map((u, i) => ({
    txid: hex(u.txid),
    vout: u.vout,
    value: values[i]!,
    scriptPubKey: hex(u.script),
  }));
  const change = f.changeScript;
  const changeAddress = address.toBech32(change.subarray(2), change[0] === 0x51 ? 1 : 0, f.network.hrp);
  const first = f.utxos[0]!.script;
  // A taproot wallet passes its x-only key (it becomes tapInternalKey); it does not change the tx.
  const publicKeyNoCoord = first[0] === 0x51 ? buf(first.subarray(2)) : undefined;
  return stakingTransaction(
    libScripts(c),
    amount,
    changeAddress,
    utxos,
    f.network.lib,
    f.feeRate,
    publicKeyNoCoord,
    f.lockHeight,
  ).psbt;
}

/** A staking tx (bitcoinjs-lib 7) spending a random outpoint, its outputs laid out as `l` says. */
function ourStakingTx(c: StakingCase, l: StakingTxLayout): { tx: Transaction; stakingIndex: number } {
  const outs = l.others.map((o) => ({ script: o.script, value: o.value }));
  const pos = l.stakingPos % (outs.length + 1);
  outs.splice(pos, 0, {
    script: buildStakingInfo(ourKeys(c.keys), c.stakingTime).pkScript,
    value: c.stakingValueSat,
  });
  const opReturnIndex = l.opReturnPos % (outs.length + 1);
  outs.splice(opReturnIndex, 0, { script: ourOpReturn(c), value: 0n });
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(l.prevHash, l.prevIndex, 0xfffffffd);
  for (const o of outs) tx.addOutput(o.script, o.value);
  return { tx, stakingIndex: opReturnIndex <= pos ? pos + 1 : pos };
}

function libUnbondingPsbt(
  c: StakingCase,
  stakingTx: Transaction,
  outputIndex: number,
  net: LibNetwork,
): LibPsbt {
  const libTx = bitcoinjs6.Transaction.fromHex(stakingTx.toHex());
  return unbondingTransaction(libScripts(c), libTx, Number(c.unbondingFeeSat), net, outputIndex).psbt;
}

/** The unsigned transaction inside a bitcoinjs-lib 6 PSBT, as hex. */
function unsignedTxHex(psbt: LibPsbt): string {
  return hex(psbt.data.globalMap.unsignedTx.toBuffer());
}

// ---------------------------------------------------------------------------------------------

describe('btc-staking-ts 0.3.0 and staking/ build byte-identical phase-1 scripts and transactions', () => {
  it(
    'the five scripts (staking timelock, unbonding, slashing, unbonding timelock, v0 OP_RETURN) are identical',
    () => {
      fc.assert(
        fc.property(stakingCase(1n), (c) => {
          const lib = libScripts(c);
          const staking = buildStakingInfo(ourKeys(c.keys), c.stakingTime);
          const unbonding = buildUnbondingInfo(ourKeys(c.keys), c.unbondingTime);
          expect(hex(lib.timelockScript)).toBe(hex(staking.timelock.script));
          expect(hex(lib.unbondingScript)).toBe(hex(staking.unbonding.script));
          expect(hex(lib.slashingScript)).toBe(hex(staking.slashing.script));
          expect(hex(lib.slashingScript)).toBe(hex(unbonding.slashing.script));
          expect(hex(lib.unbondingTimelockScript)).toBe(hex(unbonding.timelock.script));
          expect(hex(lib.dataEmbedScript)).toBe(hex(ourOpReturn(c)));
        }),
        RUNS,
      );
    },
    PSBT_TIMEOUT_MS,
  );

  it(
    'the library staking tx pays our staking pkScript and OP_RETURN, and parseStakingTx identifies it',
    () => {
      fc.assert(
        fc.property(stakingCase(1n), funding, (c, f) => {
          const psbt = libStakingPsbt(c, f);

          const [stakingOut, opReturnOut] = psbt.txOutputs;
          expect(hex(stakingOut!.script)).toBe(
            hex(buildStakingInfo(ourKeys(c.keys), c.stakingTime).pkScript),
          );
          expect(stakingOut!.value).toBe(Number(c.stakingValueSat));
          expect(hex(opReturnOut!.script)).toBe(hex(ourOpReturn(c)));
          expect(opReturnOut!.value).toBe(0);

          const data = parseStakingTx(parseTransaction(unsignedTxHex(psbt)), paramsFor(c));
          expect(data.stakingOutputIndex).toBe(0);
          expect(data.opReturnIndex).toBe(1);
          expect(hex(data.stakerKey)).toBe(hex(c.keys.stakerKey));
          expect(hex(data.fpKey)).toBe(hex(c.keys.fpKey));
          expect(data.stakingTime).toBe(c.stakingTime);
          expect(data.valueSat).toBe(c.stakingValueSat);
        }),
        RUNS,
      );
    },
    PSBT_TIMEOUT_MS,
  );

  it(
    'the library unbonding tx equals buildUnbondingTx and passes assertUnbondingTx, for any staking txid and output index',
    () => {
      fc.assert(
        fc.property(stakingCase(LIB_DUST_SAT), stakingTxLayout, (c, l) => {
          const { tx: stakingTx, stakingIndex } = ourStakingTx(c, l);
          const psbt = libUnbondingPsbt(c, stakingTx, stakingIndex, l.network.lib);

          const params = paramsFor(c);
          const data = parseStakingTx(parseTransaction(stakingTx.toHex()), params);
          expect(data.stakingOutputIndex).toBe(stakingIndex);
          const exp = expectUnbonding(stakingTx.getId(), data, params);
          const libHex = unsignedTxHex(psbt);
          expect(libHex).toBe(buildUnbondingTx(exp).toHex());
          expect(() => assertUnbondingTx(parseTransaction(libHex), exp)).not.toThrow();
          // The PSBT has the wallet sign our unbonding leaf, under our control block (parity included).
          const [leaf] = psbt.data.inputs[0]!.tapLeafScript!;
          expect(hex(leaf!.script)).toBe(hex(data.stakingInfo.unbonding.script));
          expect(hex(leaf!.controlBlock)).toBe(hex(data.stakingInfo.unbonding.controlBlock));
        }),
        RUNS,
      );
    },
    PSBT_TIMEOUT_MS,
  );

  it('with exactly quorum covenant signatures, createWitness equals buildUnbondingWitness', () => {
    const witnessCase = caseKeys.chain((keys) =>
      fc.record({
        keys: fc.constant(keys),
        stakingTime: timelock,
        /** The quorum of signers, in the random order their signatures arrived. */
        signers: fc.shuffledSubarray(keys.covenantKeys, {
          minLength: keys.covenantQuorum,
          maxLength: keys.covenantQuorum,
        }),
        stakerSignature: fc.uint8Array({ minLength: 64, maxLength: 64 }),
        covenantSigs: fc.array(fc.uint8Array({ minLength: 64, maxLength: 64 }), {
          minLength: 20,
          maxLength: 20,
        }),
      }),
    );
    fc.assert(
      fc.property(witnessCase, ({ keys, stakingTime, signers, stakerSignature, covenantSigs }) => {
        const covenantSignatures: CovenantSignature[] = signers.map((key, i) => ({
          key,
          signature: covenantSigs[i]!,
        }));
        const leaf = buildStakingInfo(ourKeys(keys), stakingTime).unbonding;

        const lib = createWitness(
          [buf(stakerSignature), buf(leaf.script), buf(leaf.controlBlock)],
          keys.covenantKeys.map(buf),
          covenantSignatures.map((s) => ({ btc_pk_hex: hex(s.key), sig_hex: hex(s.signature) })),
        );
        const ours = buildUnbondingWitness({
          covenantKeys: keys.covenantKeys,
          quorum: keys.covenantQuorum,
          covenantSignatures,
          stakerSignature,
          leaf,
        });
        expect(lib.map(hex)).toEqual(ours.map(hex));
      }),
      RUNS,
    );
  });

  it("the library's own asm.js curve (initBTCCurve) builds the same PSBTs as the wasm curve the properties use", () => {
    fc.assert(
      fc.property(stakingCase(LIB_DUST_SAT), funding, stakingTxLayout, (c, f, l) => {
        const build = () => {
          const { tx, stakingIndex } = ourStakingTx(c, l);
          const unbonding = libUnbondingPsbt(c, tx, stakingIndex, l.network.lib);
          return [unsignedTxHex(libStakingPsbt(c, f)), unsignedTxHex(unbonding), unbonding.toHex()];
        };
        const wasm = build();
        try {
          initBTCCurve();
          expect(build()).toEqual(wasm);
        } finally {
          useWasmCurve();
        }
      }),
      // ~100 ms a case with asm.js; the 1,000-case properties above cover the inputs.
      { numRuns: 20 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('where btc-staking-ts 0.3.0 differs (staking/ follows Babylon Go)', () => {
  const [staker, fp, c1, c2, c3] = [1, 2, 3, 4, 5].map((n) => {
    const sk = new Uint8Array(32);
    sk[31] = n;
    return xOnlyOf(parseCompressedKey(ecc.pointFromScalar(sk, true), 'test key', 'TEST_KEY'));
  }) as [XOnlyKey, XOnlyKey, XOnlyKey, XOnlyKey, XOnlyKey];
  const bbn1 = Buffer.from('62626e31', 'hex');

  it.each<[string, XOnlyKey, XOnlyKey, XOnlyKey[]]>([
    ['staker = finality provider', staker, staker, [c1, c2, c3]],
    ['staker = a covenant', staker, fp, [c1, staker, c3]],
    ['finality provider = a covenant', staker, fp, [c1, c2, fp]],
    ['staker = the only covenant', staker, fp, [staker]],
  ])(
    'a key repeated across roles (%s): the library builds the scripts, ours throws STAKING_DUPLICATE_KEYS',
    (_, s, f, cs) => {
      // Equal bytes in distinct Buffer objects: the library's `new Set(allPks)` sees no duplicate.
      const lib = new StakingScriptData(buf(s), [buf(f)], cs.map(buf), 1, 10, 5, bbn1);
      expect(lib.validate()).toBe(true);
      expect(() => lib.buildScripts()).not.toThrow();
      const ours = () =>
        buildStakingInfo({ stakerKey: s, fpKeys: [f], covenantKeys: cs, covenantQuorum: 1 }, 10);
      expect(ours).toThrow(CodedError);
      expect(ours).toThrow(expect.objectContaining({ code: 'STAKING_DUPLICATE_KEYS' }));
    },
  );

  it('a covenant key repeated among two or more covenants: both refuse (the library in its multisig sort)', () => {
    expect(() =>
      new StakingScriptData(buf(staker), [buf(fp)], [buf(c1), buf(c1)], 1, 10, 5, bbn1).buildScripts(),
    ).toThrow('Duplicate keys provided');
    expect(() =>
      buildStakingInfo({ stakerKey: staker, fpKeys: [fp], covenantKeys: [c1, c1], covenantQuorum: 1 }, 10),
    ).toThrow(expect.objectContaining({ code: 'STAKING_DUPLICATE_KEYS' }));
  });

  it('more covenant signatures than the quorum: createWitness puts in all of them, ours exactly quorum (the first given)', () => {
    const covenantKeys = [c1, c2, c3];
    const leaf = buildStakingInfo(
      { stakerKey: staker, fpKeys: [fp], covenantKeys, covenantQuorum: 2 },
      10,
    ).unbonding;
    const sig = (b: number) => new Uint8Array(64).fill(b);
    const given: CovenantSignature[] = [
      { key: c1, signature: sig(1) },
      { key: c2, signature: sig(2) },
      { key: c3, signature: sig(3) },
    ];
    const lib = createWitness(
      [buf(sig(9)), buf(leaf.script), buf(leaf.controlBlock)],
      covenantKeys.map(buf),
      given.map((s) => ({ btc_pk_hex: hex(s.key), sig_hex: hex(s.signature) })),
    );
    const ours = buildUnbondingWitness({
      covenantKeys,
      quorum: 2,
      covenantSignatures: given,
      stakerSignature: sig(9),
      leaf,
    });
    const filledSlots = (w: Uint8Array[]) =>
      w.slice(0, covenantKeys.length).filter((s) => s.length > 0).length;
    // Three valid signatures leave 3 on the stack before `<2> OP_NUMEQUAL`: the library's spend fails.
    expect(filledSlots(lib)).toBe(3);
    expect(filledSlots(ours)).toBe(2);
    expect(ours.map(hex)).not.toContain(hex(sig(3)));
    // The staker signature, the leaf and the control block are the same.
    expect(lib.slice(3).map(hex)).toEqual(ours.slice(3).map(hex));
  });

  it.each<[string, CovenantSignature[], string]>([
    ['fewer than the quorum', [{ key: c1, signature: new Uint8Array(64).fill(1) }], 'STAKING_QUORUM_NOT_MET'],
    [
      'a key outside the covenant set',
      [c1, staker].map((key) => ({ key, signature: new Uint8Array(64).fill(1) })),
      'STAKING_WITNESS_UNKNOWN_KEY',
    ],
  ])(
    'covenant signatures with %s: createWitness builds an unspendable witness anyway, ours throws %s',
    (_, given, code) => {
      const covenantKeys = [c1, c2, c3];
      const leaf = buildStakingInfo(
        { stakerKey: staker, fpKeys: [fp], covenantKeys, covenantQuorum: 2 },
        10,
      ).unbonding;
      const stakerSignature = new Uint8Array(64).fill(9);
      const lib = createWitness(
        [buf(stakerSignature), buf(leaf.script), buf(leaf.controlBlock)],
        covenantKeys.map(buf),
        given.map((s) => ({ btc_pk_hex: hex(s.key), sig_hex: hex(s.signature) })),
      );
      // One filled slot under `<2> OP_NUMEQUAL`: the unknown key's signature is silently dropped.
      expect(lib.slice(0, 3).filter((w) => w.length > 0)).toHaveLength(1);
      expect(() =>
        buildUnbondingWitness({ covenantKeys, quorum: 2, covenantSignatures: given, stakerSignature, leaf }),
      ).toThrow(expect.objectContaining({ code }));
    },
  );

  it('an unbonding output below the 546-sat dust limit: the library refuses it, ours builds it', () => {
    const dustCase = fc
      .tuple(stakingCase(1n), fc.bigInt({ min: 1n, max: LIB_DUST_SAT - 1n }), stakingTxLayout)
      .map(([c, unbondingOutputSat, l]) => ({
        c: { ...c, stakingValueSat: c.unbondingFeeSat + unbondingOutputSat },
        l,
      }));
    fc.assert(
      fc.property(dustCase, ({ c, l }) => {
        const { tx: stakingTx, stakingIndex } = ourStakingTx(c, l);
        expect(() => libUnbondingPsbt(c, stakingTx, stakingIndex, l.network.lib)).toThrow(
          'Output value is less than dust limit',
        );
        const params = paramsFor(c);
        const exp = expectUnbonding(stakingTx.getId(), parseStakingTx(stakingTx, params), params);
        expect(buildUnbondingTx(exp).outs[0]!.value).toBe(c.stakingValueSat - c.unbondingFeeSat);
      }),
      RUNS,
    );
  });
});
