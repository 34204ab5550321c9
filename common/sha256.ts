import { hash } from 'node:crypto';

/**
 * SHA-256 on Node's OpenSSL, one shot. The taproot leaf, branch and tweak hashes of every staking,
 * unbonding and withdraw decision go through it; bitcoinjs would hash in JavaScript, several times
 * slower. The dashboard's bundle replaces this module with web/shims/sha256.ts (web/build.ts).
 */
export function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}
