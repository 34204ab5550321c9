// hsm/: key custody behind one small interface (CustodyBackend), three backends chosen by config,
// and the key ceremonies. Native modules (graphene-pk11) load only when the pkcs11 backend is used.

export { buildSigningPsbt, pickSignature } from './bitcoindWallet.ts';
export {
  type CeremonyOptions,
  exportBackup,
  generateKey,
  importBackup,
  importKey,
  initToken,
  type ShownKey,
  showKey,
} from './ceremony.ts';
export {
  type BitcoindWalletCustodyConfig,
  type CustodyConfig,
  DEFAULT_PKCS11_LIBRARY,
  type FileCustodyConfig,
  loadCustodyConfigFile,
  type Pkcs11CustodyConfig,
  parseCustodyConfig,
  type SecretSource,
  type WalletAuth,
} from './config.ts';
export type {
  AdaptorSignRequest,
  AuditCustody,
  CustodyBackend,
  CustodyHealth,
  CustodyKind,
  UnbondingSignRequest,
} from './custody.ts';
export { HSM_ERRORS, type HsmErrorCode } from './errors.ts';
export { type OpenCustodyOptions, openCustody } from './factory.ts';
export type { CustodyLogger } from './logger.ts';
/**
 * The PKCS#11 backend's module, loaded on demand as factory.ts loads it (graphene's native module
 * comes with it, so never eagerly: a file-backed custody must not load it), for instrumentation from
 * outside the room (signer/bench/tailTrace.ts).
 */
export const loadPkcs11Backend = () => import('./pkcs11.ts');
export { type KeyInfo, parsePrivateKey } from './privateKey.ts';
// The in-memory signing the file backend does, for custody doubles in other rooms' tests.
export { adaptorSignAll, schnorrSign } from './signing.ts';
