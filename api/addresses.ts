import { address as btcAddress, crypto } from 'bitcoinjs-lib';
import { CodedError, concatBytes, toHex, xOnlyTweakAdd } from '../common/index.ts';
import { type BitcoinNetwork, taggedHash } from '../staking/index.ts';

const HRP: Record<BitcoinNetwork, string> = { mainnet: 'bc', testnet: 'tb', signet: 'tb', regtest: 'bcrt' };

/**
 * The witness programs a staker's x-only key controls, as stored in `staker_addresses`: the BIP86
 * taproot output key (key path only: Q = P + tagged_hash("TapTweak", P)·G, what the reference
 * derives for `staker_btc_address.taproot_address`), and the P2WPKH key hash of both compressed
 * forms (02‖P and 03‖P: the x-only key loses the parity, and either belongs to the same owner).
 */
export function stakerPrograms(stakerPk: Uint8Array): string[] {
  const tweak = taggedHash('TapTweak', stakerPk);
  const q = xOnlyTweakAdd(stakerPk, tweak);
  const out: string[] = [];
  if (q) out.push(`p2tr:${toHex(q.xOnly)}`);
  for (const prefix of [0x02, 0x03]) {
    out.push(`p2wpkh:${toHex(crypto.hash160(concatBytes(Uint8Array.of(prefix), stakerPk)))}`);
  }
  return out;
}

/** The BIP86 taproot address of a staker key on a network. */
export function stakerTaprootAddress(stakerPk: Uint8Array, network: BitcoinNetwork): string {
  const q = xOnlyTweakAdd(stakerPk, taggedHash('TapTweak', stakerPk));
  if (!q) throw new CodedError('API_INVALID_STAKER_PK', 'the key has no taproot output key');
  return btcAddress.toBech32(q.xOnly, 1, HRP[network]);
}

/**
 * The witness program of a taproot or P2WPKH address of `network` (bech32m v1 with 32 bytes, or
 * bech32 v0 with 20 bytes).
 * @throws {CodedError} API_INVALID_ADDRESS
 */
export function programOfAddress(address: string, network: BitcoinNetwork): string {
  let d: ReturnType<typeof btcAddress.fromBech32>;
  try {
    d = btcAddress.fromBech32(address);
  } catch (cause) {
    throw new CodedError('API_INVALID_ADDRESS', 'address is not a valid bech32 or bech32m address', {
      cause,
    });
  }
  if (d.prefix !== HRP[network]) {
    throw new CodedError('API_INVALID_ADDRESS', `address is not a ${network} address (prefix ${d.prefix})`);
  }
  if (d.version === 1 && d.data.length === 32) return `p2tr:${toHex(d.data)}`;
  if (d.version === 0 && d.data.length === 20) return `p2wpkh:${toHex(d.data)}`;
  throw new CodedError(
    'API_INVALID_ADDRESS',
    'address must be a taproot (P2TR) or native segwit (P2WPKH) address',
  );
}
