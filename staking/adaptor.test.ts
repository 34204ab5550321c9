import fc from 'fast-check';
import * as ecc from 'tiny-secp256k1';
import { describe, expect, it } from 'vitest';
import { CodedError, concatBytes, toHex } from '../common/index.ts';
import { describeVectors, readVector, VECTORS_MISSING } from '../test/infra/vectors.ts';
import {
  ADAPTOR_SIGNATURE_BYTES,
  adaptorEncSign,
  adaptorEncSignWith,
  babylonDecryptionKey,
  babylonEncryptionKey,
  decryptAdaptorSignature,
  encSignWithNonce,
  extractDecryptionKey,
  parseAdaptorSignature,
  parseEncryptionKey,
  serializeAdaptorSignature,
  verifyAdaptorSignature,
} from './adaptor.ts';

/*
 * Babylon's published adaptor-signature vectors, read in place from ../shared/vectors (verbatim
 * copies of babylonlabs-io/babylon@a3b6540:crypto/schnorr-adaptor-signature/vectors/*.csv, the
 * files its vectors_test.go reads; PROVENANCE.md there), and the 12 real 66-byte testnet
 * signatures of TestOldFormatCompat (babylonlabs-io/babylon@a3b6540:crypto/schnorr-adaptor-
 * signature/types_test.go:18-176, derived into legacy66-testnet.json).
 */
// Where ../shared/vectors is absent the tables are empty, and the describeVectors blocks that
// read them do not run.
function csvRows(file: string): string[][] {
  if (VECTORS_MISSING) return [];
  return readVector(`adaptor-signature/${file}`)
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(','))
    .filter((r) => r[0] !== '');
}
const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const HEX = (b: Uint8Array): string => toHex(b).toUpperCase();

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CodedError) return e.code;
    throw e;
  }
  return undefined;
}

/** The 66-byte legacy form of a 65-byte pre-signature: 0x02 ‖ x(R0) ‖ s ‖ (R0 odd ? 1 : 0). */
function toLegacy66(presig: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(0x02), presig.subarray(1, 65), Uint8Array.of(presig[0] === 0x03 ? 1 : 0));
}

// index, secret key, public key, aux_rand, message, adaptor, pre-signature, result, comment
const presigRows = csvRows('presig_vectors.csv');
// index, pubkey, message, secadaptor, pre-signature, BIP340 signature, result, comment
const adaptRows = csvRows('adapt_vectors.csv');
// index, pre-signature, BIP340 signature, secadaptor, result, comment
const secadaptorRows = csvRows('secadaptor_vectors.csv');

describeVectors('presig_vectors.csv: verification gives the result column for every row', () => {
  it('has the 15 published rows', () =>
    expect(presigRows.map((r) => r[0])).toEqual([...Array(15).keys()].map(String)));
  it.each(presigRows)('row %s', (_i, _sk, pk, _aux, msg, adaptor, presig, result, comment) => {
    expect(verifyAdaptorSignature(h(pk!), h(msg!), h(adaptor!), h(presig!)), comment).toBe(result === 'TRUE');
  });
  // The verification answer of the 66-byte form of each valid 65-byte row is the same.
  it.each(presigRows.filter((r) => r[7] === 'TRUE' && h(r[5]!)[0] === 0x02))(
    'row %s in its 66-byte legacy form verifies too (even encryption key)',
    (_i, _sk, pk, _aux, msg, adaptor, presig) => {
      expect(verifyAdaptorSignature(h(pk!), h(msg!), h(adaptor!), toLegacy66(h(presig!)))).toBe(true);
    },
  );
});

describeVectors(
  'presig_vectors.csv: signing (rows 0 and 1, the only rows with a secret key and aux_rand)',
  () => {
    const signRows = presigRows.filter((r) => r[1] !== '');
    it('rows 0 and 1 are the signing rows', () => expect(signRows.map((r) => r[0])).toEqual(['0', '1']));
    // The vectors' Python reference hashes x(P) into the nonce; with it our signing reproduces the
    // published bytes exactly, which pins every other step of signing (aux masking, tags, the
    // parity rule, s = k + e·d).
    it.each(signRows)('row %s: with the x(P) nonce input the pre-signature is byte-identical', (...r) => {
      const [, sk, , aux, msg, adaptor, presig] = r;
      expect(HEX(adaptorEncSignWith(h(sk!), h(msg!), h(adaptor!), h(aux!), 'python-reference'))).toBe(presig);
    });
    // Babylon v4.2.0 hashes the 33-byte compressed P (sig.go:112-128), so its nonce, and the bytes,
    // differ; its vectors_test.go does not enforce byte equality (phase2-covenant.md §6.1). We sign
    // as Babylon does, and check that the result is a valid pre-signature for the row.
    it.each(signRows)('row %s: Babylon nonce input gives other bytes that verify', (...r) => {
      const [, sk, pk, aux, msg, adaptor, presig] = r;
      const ours = adaptorEncSign(h(sk!), h(msg!), h(adaptor!), h(aux!));
      expect(HEX(ours)).not.toBe(presig);
      expect(verifyAdaptorSignature(h(pk!), h(msg!), h(adaptor!), ours)).toBe(true);
    });
  },
);

describeVectors(
  'adapt_vectors.csv: decryption gives the published signature, which verifies iff result',
  () => {
    it('has the 5 published rows', () => expect(adaptRows).toHaveLength(5));
    it.each(adaptRows)('row %s', (_i, pk, msg, secadaptor, presig, bip340, result, comment) => {
      const sig = decryptAdaptorSignature(h(presig!), h(secadaptor!));
      expect(HEX(sig)).toBe(bip340);
      expect(ecc.verifySchnorr(h(msg!), h(pk!), sig), comment).toBe(result === 'TRUE');
    });
  },
);

describeVectors('secadaptor_vectors.csv: extraction returns the published key iff result', () => {
  it('has the 4 published rows', () => expect(secadaptorRows).toHaveLength(4));
  it.each(secadaptorRows)('row %s', (_i, presig, bip340, secadaptor, result, comment) => {
    expect(HEX(extractDecryptionKey(h(presig!), h(bip340!))) === secadaptor, comment).toBe(result === 'TRUE');
  });
});

interface LegacyRow {
  path: string;
  pk: string;
  ek: string;
  msg: string;
  sig66: string;
}
const legacy: LegacyRow[] = VECTORS_MISSING
  ? []
  : (JSON.parse(readVector('adaptor-signature/legacy66-testnet.json')) as { rows: LegacyRow[] }).rows;

describeVectors('the 12 real 66-byte testnet covenant signatures (TestOldFormatCompat)', () => {
  it('there are 12, six per slashing path', () => {
    expect(legacy).toHaveLength(12);
    expect(legacy.filter((r) => r.path === 'staking slashing')).toHaveLength(6);
  });
  it.each(legacy.map((r, i) => [i, r] as const))(
    'signature %i verifies against its message and the FP key lifted to even y',
    (_i, r) => {
      const sig = h(r.sig66);
      expect(sig).toHaveLength(66);
      expect(verifyAdaptorSignature(h(r.pk), h(r.msg), babylonEncryptionKey(h(r.ek)), sig)).toBe(true);
      // The same point with odd y is another encryption key.
      expect(verifyAdaptorSignature(h(r.pk), h(r.msg), h(`03${r.ek}`), sig)).toBe(false);
      // Parsing converts it to the 65-byte form, which verifies the same.
      const as65 = serializeAdaptorSignature(parseAdaptorSignature(sig));
      expect(as65).toHaveLength(ADAPTOR_SIGNATURE_BYTES);
      expect(verifyAdaptorSignature(h(r.pk), h(r.msg), babylonEncryptionKey(h(r.ek)), as65)).toBe(true);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Properties

const scalar = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => ecc.isPrivate(b));
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const point = (d: Uint8Array): Uint8Array => ecc.pointFromScalar(d, true)!;
const xOnly = (d: Uint8Array): Uint8Array => point(d).subarray(1);
const RUNS = { numRuns: 200 };

describe('properties (fast-check)', () => {
  it('encrypt-then-decrypt gives a valid BIP340 signature, for encryption keys of either parity', () => {
    fc.assert(
      fc.property(scalar, scalar, bytes32, bytes32, (sk, t, msg, aux) => {
        const presig = adaptorEncSign(sk, msg, point(t), aux);
        expect(presig).toHaveLength(65);
        expect(verifyAdaptorSignature(xOnly(sk), msg, point(t), presig)).toBe(true);
        const sig = decryptAdaptorSignature(presig, t);
        expect(ecc.verifySchnorr(msg, xOnly(sk), sig)).toBe(true);
      }),
      RUNS,
    );
  });

  it('extraction returns the decryption key', () => {
    fc.assert(
      fc.property(scalar, scalar, bytes32, bytes32, (sk, t, msg, aux) => {
        const presig = adaptorEncSign(sk, msg, point(t), aux);
        expect(toHex(extractDecryptionKey(presig, decryptAdaptorSignature(presig, t)))).toBe(toHex(t));
      }),
      RUNS,
    );
  });

  it('the 66-byte legacy form verifies, decrypts and extracts like the 65-byte one (even key)', () => {
    fc.assert(
      fc.property(scalar, scalar, bytes32, bytes32, (sk, t0, msg, aux) => {
        const ek = babylonEncryptionKey(point(t0));
        const t = point(t0)[0] === 0x02 ? t0 : ecc.privateNegate(t0);
        const presig = adaptorEncSign(sk, msg, ek, aux);
        const old = toLegacy66(presig);
        expect(verifyAdaptorSignature(xOnly(sk), msg, ek, old)).toBe(true);
        const sig = decryptAdaptorSignature(old, t);
        expect(toHex(sig)).toBe(toHex(decryptAdaptorSignature(presig, t)));
        expect(toHex(extractDecryptionKey(old, sig))).toBe(toHex(t));
      }),
      RUNS,
    );
  });

  it('verification rejects a wrong encryption key, a wrong key, a wrong message', () => {
    fc.assert(
      fc.property(scalar, scalar, scalar, bytes32, bytes32, (sk, t, other, msg, aux) => {
        fc.pre(toHex(t) !== toHex(other) && toHex(sk) !== toHex(other));
        const presig = adaptorEncSign(sk, msg, point(t), aux);
        expect(verifyAdaptorSignature(xOnly(sk), msg, point(other), presig)).toBe(false);
        // The same x with the other parity.
        const flipped = Uint8Array.from(point(t));
        flipped[0] = flipped[0]! ^ 0x01;
        expect(verifyAdaptorSignature(xOnly(sk), msg, flipped, presig)).toBe(false);
        if (toHex(xOnly(other)) !== toHex(xOnly(sk))) {
          expect(verifyAdaptorSignature(xOnly(other), msg, point(t), presig)).toBe(false);
        }
        const msg2 = Uint8Array.from(msg);
        msg2[0] = msg2[0]! ^ 0x01;
        expect(verifyAdaptorSignature(xOnly(sk), msg2, point(t), presig)).toBe(false);
      }),
      RUNS,
    );
  });

  it('verification rejects any mutated byte of the pre-signature', () => {
    fc.assert(
      fc.property(
        scalar,
        scalar,
        bytes32,
        bytes32,
        fc.nat({ max: 64 }),
        fc.integer({ min: 1, max: 255 }),
        (sk, t, msg, aux, at, xor) => {
          const presig = adaptorEncSign(sk, msg, point(t), aux);
          const mutated = Uint8Array.from(presig);
          mutated[at]! ^= xor;
          expect(verifyAdaptorSignature(xOnly(sk), msg, point(t), mutated)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('signing is deterministic in its inputs and changes with the auxiliary randomness', () => {
    fc.assert(
      fc.property(scalar, scalar, bytes32, bytes32, bytes32, (sk, t, msg, aux, aux2) => {
        fc.pre(toHex(aux) !== toHex(aux2));
        const a = adaptorEncSign(sk, msg, point(t), aux);
        expect(toHex(adaptorEncSign(sk, msg, point(t), aux))).toBe(toHex(a));
        expect(toHex(adaptorEncSign(sk, msg, point(t), aux2))).not.toBe(toHex(a));
      }),
      { numRuns: 50 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Each refusal, by its code

describe('refusals', () => {
  const sk = h('0000000000000000000000000000000000000000000000000000000000000003');
  const t = h('0000000000000000000000000000000000000000000000000000000000000005');
  const msg = new Uint8Array(32).fill(7);
  const aux = new Uint8Array(32);
  const presig = adaptorEncSign(sk, msg, point(t), aux);
  const N_HEX = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141';

  it('STAKING_ADAPTOR_SIG_MALFORMED: wrong length, bad prefix, bad needsNegation byte, R0 off the curve, s ≥ n', () => {
    expect(codeOf(() => parseAdaptorSignature(presig.subarray(0, 64)))).toBe('STAKING_ADAPTOR_SIG_MALFORMED');
    const legacyOdd = toLegacy66(presig);
    legacyOdd[0] = 0x03;
    expect(codeOf(() => parseAdaptorSignature(legacyOdd))).toBe('STAKING_ADAPTOR_SIG_MALFORMED');
    const legacyNn = toLegacy66(presig);
    legacyNn[65] = 0x02;
    expect(codeOf(() => parseAdaptorSignature(legacyNn))).toBe('STAKING_ADAPTOR_SIG_MALFORMED');
    const badPrefix = Uint8Array.from(presig);
    badPrefix[0] = 0x04;
    expect(codeOf(() => parseAdaptorSignature(badPrefix))).toBe('STAKING_ADAPTOR_SIG_MALFORMED');
    const infinity = Uint8Array.from(presig);
    infinity.fill(0, 0, 33);
    expect(codeOf(() => decryptAdaptorSignature(infinity, t))).toBe('STAKING_ADAPTOR_SIG_MALFORMED');
    const bigS = concatBytes(presig.subarray(0, 33), h(N_HEX));
    expect(codeOf(() => extractDecryptionKey(bigS, new Uint8Array(64).fill(1)))).toBe(
      'STAKING_ADAPTOR_SIG_MALFORMED',
    );
  });

  it('STAKING_ADAPTOR_ENC_KEY_INVALID: not 33 bytes, infinity, off the curve', () => {
    expect(codeOf(() => parseEncryptionKey(new Uint8Array(33)))).toBe('STAKING_ADAPTOR_ENC_KEY_INVALID');
    expect(codeOf(() => adaptorEncSign(sk, msg, point(t).subarray(1), aux))).toBe(
      'STAKING_ADAPTOR_ENC_KEY_INVALID',
    );
    // x = p is no field element (presig_vectors.csv row 4's public key).
    const offCurve = h('02FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F');
    expect(codeOf(() => babylonEncryptionKey(offCurve))).toBe('STAKING_ADAPTOR_ENC_KEY_INVALID');
    expect(codeOf(() => babylonEncryptionKey(new Uint8Array(31)))).toBe('STAKING_ADAPTOR_ENC_KEY_INVALID');
  });

  it('STAKING_ADAPTOR_SECRET_INVALID: a zero or ≥ n signing key or decryption key', () => {
    expect(codeOf(() => adaptorEncSign(new Uint8Array(32), msg, point(t), aux))).toBe(
      'STAKING_ADAPTOR_SECRET_INVALID',
    );
    expect(codeOf(() => adaptorEncSign(h(N_HEX), msg, point(t), aux))).toBe('STAKING_ADAPTOR_SECRET_INVALID');
    expect(codeOf(() => decryptAdaptorSignature(presig, new Uint8Array(32)))).toBe(
      'STAKING_ADAPTOR_SECRET_INVALID',
    );
  });

  it('STAKING_INVALID_ARGUMENT: a message or auxiliary randomness that is not 32 bytes', () => {
    expect(codeOf(() => adaptorEncSign(sk, msg.subarray(1), point(t), aux))).toBe('STAKING_INVALID_ARGUMENT');
    expect(codeOf(() => adaptorEncSign(sk, msg, point(t), aux.subarray(1)))).toBe('STAKING_INVALID_ARGUMENT');
  });

  it('STAKING_ADAPTOR_SIGN_FAILED: a nonce whose R0 = k0·G + T is the point at infinity', () => {
    const k0 = h('0000000000000000000000000000000000000000000000000000000000000009');
    const minusK0G = ecc.pointFromScalar(ecc.privateNegate(k0), true)!;
    expect(codeOf(() => encSignWithNonce(sk, xOnly(sk), k0, msg, minusK0G))).toBe(
      'STAKING_ADAPTOR_SIGN_FAILED',
    );
  });

  it('STAKING_ADAPTOR_ZERO_SCALAR: decryption to s = 0, extraction of t = 0, a zero s', () => {
    const parsed = parseAdaptorSignature(presig);
    // s0 + t = 0 for an even R0, s0 − t = 0 for an odd one.
    const killer = parsed.r0[0] === 0x02 ? ecc.privateNegate(parsed.s) : parsed.s;
    expect(codeOf(() => decryptAdaptorSignature(presig, killer))).toBe('STAKING_ADAPTOR_ZERO_SCALAR');
    // A "signature" with s = s0 extracts t = 0.
    const same = concatBytes(parsed.r0.subarray(1), parsed.s);
    expect(codeOf(() => extractDecryptionKey(presig, same))).toBe('STAKING_ADAPTOR_ZERO_SCALAR');
    const zeroS = concatBytes(parsed.r0, new Uint8Array(32));
    expect(codeOf(() => decryptAdaptorSignature(zeroS, t))).toBe('STAKING_ADAPTOR_ZERO_SCALAR');
    expect(verifyAdaptorSignature(xOnly(sk), msg, point(t), zeroS)).toBe(false);
  });

  it('STAKING_INVALID_SIGNATURE: extraction from a signature that is not 64 bytes or has s ≥ n', () => {
    const sig = decryptAdaptorSignature(presig, t);
    expect(codeOf(() => extractDecryptionKey(presig, sig.subarray(1)))).toBe('STAKING_INVALID_SIGNATURE');
    expect(codeOf(() => extractDecryptionKey(presig, concatBytes(sig.subarray(0, 32), h(N_HEX))))).toBe(
      'STAKING_INVALID_SIGNATURE',
    );
  });

  it('verifyAdaptorSignature never throws on garbage', () => {
    expect(verifyAdaptorSignature(new Uint8Array(3), msg, point(t), presig)).toBe(false);
    expect(verifyAdaptorSignature(xOnly(sk), new Uint8Array(31), point(t), presig)).toBe(false);
    expect(verifyAdaptorSignature(xOnly(sk), msg, new Uint8Array(33), presig)).toBe(false);
    expect(verifyAdaptorSignature(xOnly(sk), msg, point(t), new Uint8Array(67))).toBe(false);
    expect(verifyAdaptorSignature(xOnly(sk), msg, point(t), presig)).toBe(true);
  });

  it('babylonEncryptionKey lifts any key to even y: 02 ‖ x (keys.go:76-117)', () => {
    const p = point(t);
    const even = babylonEncryptionKey(p);
    expect(even[0]).toBe(0x02);
    expect(toHex(even.subarray(1))).toBe(toHex(p.subarray(1)));
    expect(toHex(babylonEncryptionKey(p.subarray(1)))).toBe(toHex(even));
    const odd = Uint8Array.from(p);
    odd[0] = 0x03;
    expect(toHex(babylonEncryptionKey(odd))).toBe(toHex(even));
  });
});

describe('babylonDecryptionKey', () => {
  it('opens what was encrypted to babylonEncryptionKey of the key, whatever the key’s parity', () => {
    fc.assert(
      fc.property(scalar, scalar, bytes32, bytes32, (fpSecret, sk, msg, aux) => {
        const presig = adaptorEncSign(sk, msg, babylonEncryptionKey(xOnly(fpSecret)), aux);
        const t = babylonDecryptionKey(fpSecret);
        expect(point(t)[0]).toBe(0x02);
        expect(toHex(xOnly(t))).toBe(toHex(xOnly(fpSecret)));
        expect(ecc.verifySchnorr(msg, xOnly(sk), decryptAdaptorSignature(presig, t))).toBe(true);
        expect(toHex(extractDecryptionKey(presig, decryptAdaptorSignature(presig, t)))).toBe(toHex(t));
      }),
      RUNS,
    );
  });

  it('negates an odd-y secret, and the raw odd-y secret decrypts to a signature that fails', () => {
    // 6·G has odd y, 5·G has even y: both branches, pinned.
    const odd = h('0000000000000000000000000000000000000000000000000000000000000006');
    const even = h('0000000000000000000000000000000000000000000000000000000000000005');
    expect(point(odd)[0]).toBe(0x03);
    expect(point(even)[0]).toBe(0x02);
    expect(toHex(babylonDecryptionKey(even))).toBe(toHex(even));
    expect(toHex(babylonDecryptionKey(odd))).toBe(toHex(ecc.privateNegate(odd)));
    const sk = h('0000000000000000000000000000000000000000000000000000000000000007');
    const msg = new Uint8Array(32).fill(9);
    const presig = adaptorEncSign(sk, msg, babylonEncryptionKey(xOnly(odd)), new Uint8Array(32));
    expect(ecc.verifySchnorr(msg, xOnly(sk), decryptAdaptorSignature(presig, odd))).toBe(false);
    expect(
      ecc.verifySchnorr(msg, xOnly(sk), decryptAdaptorSignature(presig, babylonDecryptionKey(odd))),
    ).toBe(true);
  });

  it('STAKING_ADAPTOR_SECRET_INVALID: zero, ≥ n, not 32 bytes', () => {
    expect(codeOf(() => babylonDecryptionKey(new Uint8Array(32)))).toBe('STAKING_ADAPTOR_SECRET_INVALID');
    expect(codeOf(() => babylonDecryptionKey(new Uint8Array(32).fill(0xff)))).toBe(
      'STAKING_ADAPTOR_SECRET_INVALID',
    );
    expect(codeOf(() => babylonDecryptionKey(new Uint8Array(31).fill(1)))).toBe(
      'STAKING_ADAPTOR_SECRET_INVALID',
    );
  });
});
