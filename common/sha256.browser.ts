import { crypto } from 'bitcoinjs-lib';

/**
 * SHA-256 for a browser bundle (package.json `imports` maps `#sha256` here when the `node`
 * condition is absent): bitcoinjs-lib's JavaScript implementation, as node:crypto is not there.
 */
export function sha256(data: Uint8Array): Uint8Array {
  return crypto.sha256(data);
}
