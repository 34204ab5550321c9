// common/sha256.ts hashes with node:crypto, which a browser does not have. The page gets the same
// function from bitcoinjs-lib (JavaScript, noble-hashes); web/build.ts points the import here.
import { crypto } from 'bitcoinjs-lib';

export function sha256(data: Uint8Array): Uint8Array {
  return crypto.sha256(data);
}
