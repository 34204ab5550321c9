// The pkcs11 custody backend (graphene-pk11): a KEK in the token seals the covenant key, the host
// signs with it unsealed for one synchronous step. factory.ts and ceremony.ts import this file lazily,
// so graphene's native module loads only when the backend is used. The pieces, under pkcs11/:
//   sealed.ts   the sealed-key format, unsealing, and the design of the backend (read it first)
//   cryptoki.ts the PKCS#11 constants and the CKR_… to coded-error mapping
//   module.ts   the library, loaded once per path; a token's slot by label
//   token.ts    an open token: its pool of logged-in sessions
//   workingKey.ts the signing sessions' working keys: one C_Decrypt per signature (why, and custody)
//   objects.ts  the KEK and sealed-key objects, found by label and checked
//   audit.ts    the audit MAC key and anchor in the token
//   backend.ts  Pkcs11Custody: open, lock/unlock, sign, adaptor-sign, health
//   ceremony.ts initialise a token, generate/import/export the sealed key
export { openPkcs11Custody, Pkcs11Custody } from './pkcs11/backend.ts';
export { generatePkcs11Key, importPkcs11Key, initPkcs11Token, withPkcs11Key } from './pkcs11/ceremony.ts';
