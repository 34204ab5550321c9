import { hash } from 'node:crypto';

/**
 * SHA-256 on Node's OpenSSL, one shot. The taproot leaf, branch and tweak hashes of every staking,
 * unbonding and withdraw decision go through it; bitcoinjs would hash in JavaScript, several times
 * slower. A browser bundle resolves `#sha256` to sha256.browser.ts instead (package.json `imports`).
 */
export function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}
