/**
 * Test helpers for web/ (not a test file): the demo's two params versions with test covenant keys,
 * addresses of test keys, and the signers a wallet would use.
 */
import { payments } from 'bitcoinjs-lib';
import { ecc, toHex } from '../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import { taggedHash } from '../staking/index.ts';
import { type TestKey, testKey } from '../test/keys.ts';
import { bitcoinjsNetwork } from './txbuild.ts';

export const COVENANTS = [testKey('web-cov-1'), testKey('web-cov-2'), testKey('web-cov-3')];
const common = {
  tag: '62627434',
  covenant_pks: COVENANTS.map((k) => k.compressedHex),
  covenant_quorum: 2,
  unbonding_time: 3,
  unbonding_fee: 500,
  confirmation_depth: 2,
};
/** The reference demo's versions (activation 115 and 130, caps 10 and 20 BTC). */
export const PARAMS_JSON = {
  versions: [
    {
      ...common,
      version: 0,
      activation_height: 115,
      staking_cap: 1_000_000_000,
      max_staking_amount: 1_000_000_000,
      min_staking_amount: 100_000_000,
      max_staking_time: 1000,
      min_staking_time: 10,
    },
    {
      ...common,
      version: 1,
      activation_height: 130,
      staking_cap: 2_000_000_000,
      max_staking_amount: 2_000_000_000,
      min_staking_amount: 200_000_000,
      max_staking_time: 5000,
      min_staking_time: 1,
    },
  ],
};
export const PARAMS: GlobalParams = parseGlobalParams(PARAMS_JSON);

export function compressedPub(k: TestKey): Uint8Array {
  return ecc.pointFromScalar(k.privateKey, true)!;
}

export function p2wpkhAddress(k: TestKey, network: 'regtest' | 'testnet' | 'mainnet' = 'regtest'): string {
  return payments.p2wpkh({ pubkey: compressedPub(k), network: bitcoinjsNetwork(network) }).address!;
}

export function p2trAddress(k: TestKey, network: 'regtest' | 'testnet' | 'mainnet' = 'regtest'): string {
  return payments.p2tr({ internalPubkey: k.xOnly, network: bitcoinjsNetwork(network) }).address!;
}

/** What bitcoinjs's Psbt.signInput takes: ECDSA for P2WPKH, BIP340 (untweaked) for script paths. */
export function signerOf(k: TestKey) {
  return {
    publicKey: compressedPub(k),
    sign: (hash: Uint8Array) => ecc.sign(hash, k.privateKey),
    signSchnorr: (hash: Uint8Array) => ecc.signSchnorr(hash, k.privateKey, new Uint8Array(32)),
  };
}

/** The BIP86 key-path signer of a P2TR address with no script tree (the key tweaked by its own hash). */
export function tweakedSignerOf(k: TestKey) {
  const pub = compressedPub(k);
  const d = pub[0] === 0x03 ? ecc.privateNegate(k.privateKey) : k.privateKey;
  const tweaked = ecc.privateAdd(d, taggedHash('TapTweak', k.xOnly))!;
  return {
    publicKey: ecc.pointFromScalar(tweaked, true)!,
    signSchnorr: (hash: Uint8Array) => ecc.signSchnorr(hash, tweaked, new Uint8Array(32)),
  };
}

export const hexOf = toHex;
