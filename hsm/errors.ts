import { CodedError } from '../common/index.ts';

/**
 * Every failure hsm/ reports, one code per rule, each with one human sentence. Documented in
 * hsm/README.md (hsm/errorCodes.test.ts checks). Messages name the field, file or label involved and
 * never a PIN, passphrase, key or the raw text of an upstream error (that stays in `cause`).
 */
export const HSM_ERRORS = {
  // configuration
  HSM_CONFIG_UNKNOWN_KEY: 'The custody config has a key this version does not know; a typo stops start-up.',
  HSM_CONFIG_MISSING_KEY: 'A required custody config key is missing.',
  HSM_CONFIG_INVALID_VALUE: 'A custody config value has the wrong type or is out of its range.',
  HSM_CONFIG_CONFLICT: 'Two custody config keys that exclude each other are both set, or neither is.',
  HSM_FILE_UNREADABLE:
    'A file the custody code needs (config, backup, audit anchor) cannot be read, written or parsed; a params file gives the PARAMS_… codes.',
  // secrets
  HSM_SECRET_UNAVAILABLE:
    'A PIN, password or passphrase cannot be read: the file is missing or empty, or the environment variable is unset or empty.',
  HSM_SECRET_FILE_INSECURE:
    'A secret or key file is not a regular file of mode 0600 or stricter (group or others may access it).',
  HSM_PASSPHRASE_TOO_SHORT:
    'A passphrase that protects a key file or a backup is shorter than 12 characters.',
  // sign requests
  HSM_BAD_REQUEST: 'A sign request is malformed: the sighash or the key is not 32 bytes.',
  HSM_KEY_NOT_HELD: 'The requested covenant key is not held by this custody backend.',
  HSM_SIGNATURE_INVALID:
    'The signature the bitcoind wallet made does not verify against the sighash and key; it was not returned.',
  HSM_CLOSED: 'The custody backend has been closed.',
  HSM_LOCKED: 'The custody backend is locked (POST /v1/lock): it signs nothing until unlocked.',
  // pkcs11
  HSM_PKCS11_LIBRARY: 'The PKCS#11 library cannot be loaded or initialised.',
  HSM_TOKEN_NOT_FOUND: 'No token with the configured label is present.',
  HSM_LABEL_AMBIGUOUS: 'More than one token or object carries the configured label; custody does not guess.',
  HSM_PIN_INCORRECT: 'The token refused the PIN.',
  HSM_PIN_LOCKED: 'The token has locked its user PIN after too many failed logins.',
  HSM_KEK_NOT_FOUND: 'The token holds no key-encryption key with the configured label.',
  HSM_KEK_INVALID:
    'The object under the KEK label is not a sensitive, non-extractable AES key allowed to wrap and unwrap.',
  HSM_SEALED_KEY_NOT_FOUND: 'The token holds no sealed covenant key with the configured label.',
  HSM_SEALED_KEY_INVALID:
    'The sealed covenant key is malformed, cannot be unsealed by the KEK, or does not match its recorded public key.',
  HSM_PKCS11_ERROR: 'A PKCS#11 call failed; its return value (CKR_…) is in the error details.',
  HSM_TOKEN_EXISTS: 'A token with that label already exists; init-token never reinitialises one.',
  HSM_KEY_EXISTS:
    'A covenant key already exists where the ceremony would create one; ceremonies never overwrite keys.',
  // bitcoind-wallet
  HSM_WALLET_UNREACHABLE: 'The wallet node does not answer (refused, timed out or not an RPC server).',
  HSM_WALLET_AUTH: 'The wallet node refused the RPC credentials.',
  HSM_WALLET_NOT_LOADED: 'The configured wallet is not loaded on the wallet node.',
  HSM_WALLET_LOCKED: 'The wallet is encrypted and locked; unlock it with walletpassphrase.',
  HSM_WALLET_KEY_NOT_FOUND: 'The wallet cannot sign for the configured covenant key.',
  HSM_WALLET_NO_SIGNATURE: 'walletprocesspsbt returned no signature for the requested key and leaf.',
  HSM_WALLET_ERROR: 'The wallet node rejected a call; its bitcoind error code is in the error details.',
  // file
  HSM_FILE_BACKEND_NOT_ALLOWED:
    'The file backend is for development only and refuses to start unless allow_insecure_file_backend = true.',
  HSM_KEY_FILE_INVALID: 'The key file is not a covenant key file of a known format and version.',
  HSM_KEY_FILE_DECRYPT_FAILED: 'The key file cannot be decrypted: wrong passphrase, or the file was altered.',
  // ceremonies and backups
  HSM_PRIVATE_KEY_INVALID:
    'The private key given is not 64 hex digits or a WIF of a valid secp256k1 private key.',
  HSM_BACKUP_INVALID: 'The backup file is not a covenant key backup of a known format and version.',
  HSM_BACKUP_DECRYPT_FAILED: 'The backup cannot be decrypted: wrong passphrase, or the file was altered.',
  HSM_OUTPUT_EXISTS: 'The output file already exists; ceremonies never overwrite a file.',
  HSM_CEREMONY_UNSUPPORTED: 'This key ceremony is not available for the configured backend.',
  // the signer's audit key and anchor
  HSM_AUDIT_KEY_INVALID:
    'The audit MAC key is not what it must be: in a token, a sensitive, non-extractable secret key allowed to sign; in a file, 64 hex digits.',
  HSM_AUDIT_ANCHOR_CONFLICT:
    'The audit anchor in custody is not the one this process last read or wrote: another writer moved it.',
} as const;

export type HsmErrorCode = keyof typeof HSM_ERRORS;

/** A CodedError with an hsm/ code. */
export function hsmError(
  code: HsmErrorCode,
  message: string,
  options?: { cause?: unknown; details?: Record<string, unknown> },
): CodedError<HsmErrorCode> {
  return new CodedError<HsmErrorCode>(code, message, options);
}
