import type * as tiny from 'tiny-secp256k1';

/**
 * What the project asks of a secp256k1 library: tiny-secp256k1's interface, which bitcoinjs-lib's
 * `initEccLib` expects too. Node services get it from common/curve.node.ts (the native
 * libsecp256k1 addon, native/secp256k1/), a browser bundle from common/curve.browser.ts; both are
 * reached only as `#curve` through common/index.ts.
 */
export type Ecc = Pick<
  typeof tiny,
  | 'isPoint'
  | 'isXOnlyPoint'
  | 'isPrivate'
  | 'pointAdd'
  | 'pointAddScalar'
  | 'pointCompress'
  | 'pointFromScalar'
  | 'pointMultiply'
  | 'privateAdd'
  | 'privateSub'
  | 'privateNegate'
  | 'xOnlyPointAddTweak'
  | 'xOnlyPointFromScalar'
  | 'xOnlyPointFromPoint'
  | 'sign'
  | 'signSchnorr'
  | 'verify'
  | 'verifySchnorr'
>;
