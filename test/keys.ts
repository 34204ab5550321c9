import { createHash } from 'node:crypto';
import { ecc, parseCompressedKey, type XOnlyKey, xOnlyOf } from '../common/index.ts';

/** A deterministic test key pair. Never use for anything but tests. */
export interface TestKey {
  readonly privateKey: Uint8Array;
  readonly xOnly: XOnlyKey;
  /** 33-byte compressed public key, hex (the params file form). */
  readonly compressedHex: string;
  sign(sighash: Uint8Array): Uint8Array;
}

/** Derives the key for a label: sha256(label) as the private key (valid with overwhelming odds). */
export function testKey(label: string): TestKey {
  const privateKey = Uint8Array.from(createHash('sha256').update(`test-key:${label}`).digest());
  const pub = ecc.pointFromScalar(privateKey, true);
  if (!pub) throw new Error(`bad test key ${label}`);
  return {
    privateKey,
    xOnly: xOnlyOf(parseCompressedKey(pub, label, 'TEST_KEY')),
    compressedHex: Buffer.from(pub).toString('hex'),
    // A fixed aux so a test run is reproducible.
    sign: (sighash) => ecc.signSchnorr(sighash, privateKey, new Uint8Array(32)),
  };
}

/**
 * Global-params JSON for tests: one version with the given covenant keys (anything with the
 * compressed hex form: test keys, or keys a custody backend generated).
 */
export function testParamsDoc(
  covenants: readonly Pick<TestKey, 'compressedHex'>[],
  over: Record<string, unknown> = {},
): { versions: Record<string, unknown>[] } {
  return {
    versions: [
      {
        version: 0,
        activation_height: 100,
        staking_cap: 10_000_000_000,
        tag: '01020304',
        covenant_pks: covenants.map((k) => k.compressedHex),
        covenant_quorum: Math.min(2, covenants.length),
        unbonding_time: 3,
        unbonding_fee: 1_000,
        max_staking_amount: 5_000_000_000,
        min_staking_amount: 10_000,
        max_staking_time: 65_535,
        min_staking_time: 5,
        confirmation_depth: 2,
        ...over,
      },
    ],
  };
}
