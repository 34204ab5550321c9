import { access, readFile } from 'node:fs/promises';
import { toHex } from '../common/index.ts';
import { type GlobalParams, versionsListingKey } from '../params/index.ts';
import type { CustodyConfig, SecretSource } from './config.ts';
import type { CustodyHealth, CustodyKind } from './custody.ts';
import {
  BACKUP_CODES,
  deriveEnvelopeKey,
  type KeyEnvelope,
  newScryptParams,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  serializeEnvelope,
} from './envelope.ts';
import { hsmError } from './errors.ts';
import { openCustody } from './factory.ts';
import type { CustodyLogger } from './logger.ts';
import type { KeyInfo } from './privateKey.ts';
import { readPassphrase, readSecret, writeNewPrivateFile } from './secrets.ts';

/*
 * Key ceremonies as library functions; hsm/ceremonyCli.ts (and later the signer's CLI) wraps them.
 * None of them returns, prints or logs private key material: what they return is public (KeyInfo).
 * Backend modules are imported lazily, as in openCustody.
 */

const BACKUP_FORMAT = 'babylon-covenant-key-backup';

export interface CeremonyOptions {
  readonly logger: CustodyLogger;
}

/** What show-key reports. */
export interface ShownKey extends KeyInfo {
  readonly kind: CustodyKind;
  readonly health: CustodyHealth;
  /** With params given: the versions whose covenant committee lists this key. */
  readonly paramsVersions?: readonly number[];
}

function unsupported(command: string, kind: CustodyKind, why: string): Error {
  return hsmError('HSM_CEREMONY_UNSUPPORTED', `${command} is not available for the ${kind} backend: ${why}`, {
    details: { command, kind },
  });
}

function walletKeepsKey(command: string): Error {
  return unsupported(
    command,
    'bitcoind-wallet',
    'the key never leaves the wallet; back up the wallet itself (bitcoind backupwallet)',
  );
}

/**
 * Initialises a SoftHSM token: the config's token label and user PIN (`pin_file`/`pin_env`), and
 * the SO PIN from its own file or variable. For a real HSM use the vendor's initialisation tool.
 * @throws {CodedError} HSM_CEREMONY_UNSUPPORTED (not pkcs11), HSM_TOKEN_EXISTS, HSM_SECRET_…, HSM_PKCS11_…
 */
export async function initToken(
  config: CustodyConfig,
  opts: { readonly soPin: SecretSource },
): Promise<void> {
  if (config.kind !== 'pkcs11')
    throw unsupported('init-token', config.kind, 'only a PKCS#11 token is initialised');
  const soPin = await readSecret(opts.soPin, 'SO PIN');
  const { initPkcs11Token } = await import('./pkcs11.ts');
  await initPkcs11Token(config, soPin);
}

/**
 * Generates the covenant key inside the configured custody: pkcs11 with the token's RNG, sealed in
 * the token; bitcoind-wallet from the wallet's HD chain; file as a new encrypted key file.
 * @throws {CodedError} HSM_KEY_EXISTS, and the backend's codes
 */
export async function generateKey(config: CustodyConfig, opts: CeremonyOptions): Promise<KeyInfo> {
  switch (config.kind) {
    case 'pkcs11': {
      const { generatePkcs11Key } = await import('./pkcs11.ts');
      return generatePkcs11Key(config);
    }
    case 'bitcoind-wallet': {
      const { generateWalletKey } = await import('./bitcoindWallet.ts');
      return generateWalletKey(config);
    }
    case 'file': {
      const { createFileKey } = await import('./fileBackend.ts');
      return createFileKey(config, undefined, opts);
    }
    default: {
      const unknown: never = config;
      throw new Error(`unknown custody kind ${(unknown as { kind: string }).kind}`);
    }
  }
}

/** Seals/stores the key `produce` returns (called once, synchronously, at the last moment; wiped by the backend). */
async function storeKey(
  config: CustodyConfig,
  produce: () => Uint8Array,
  opts: CeremonyOptions,
): Promise<KeyInfo> {
  switch (config.kind) {
    case 'pkcs11': {
      const { importPkcs11Key } = await import('./pkcs11.ts');
      return importPkcs11Key(config, produce);
    }
    case 'bitcoind-wallet': {
      const { importWalletKey } = await import('./bitcoindWallet.ts');
      return importWalletKey(config, produce);
    }
    case 'file': {
      const { createFileKey } = await import('./fileBackend.ts');
      return createFileKey(config, produce, opts);
    }
    default: {
      const unknown: never = config;
      throw new Error(`unknown custody kind ${(unknown as { kind: string }).kind}`);
    }
  }
}

/**
 * Imports an existing private key (a migration) into the configured custody.
 * @param privateKey 32 bytes (see parsePrivateKey); wiped by the time this settles.
 * @throws {CodedError} HSM_KEY_EXISTS, HSM_PRIVATE_KEY_INVALID, and the backend's codes
 */
export async function importKey(
  config: CustodyConfig,
  privateKey: Uint8Array,
  opts: CeremonyOptions,
): Promise<KeyInfo> {
  try {
    return await storeKey(config, () => Uint8Array.from(privateKey), opts);
  } finally {
    privateKey.fill(0);
  }
}

/** Runs a synchronous `use` over the held private key (pkcs11 unseals, file decrypts); wiped after. */
async function withKey<T>(
  config: CustodyConfig,
  command: string,
  use: (privateKey: Uint8Array, info: KeyInfo) => T extends PromiseLike<unknown> ? never : T,
  opts: CeremonyOptions,
): Promise<T extends PromiseLike<unknown> ? never : T> {
  switch (config.kind) {
    case 'pkcs11': {
      const { withPkcs11Key } = await import('./pkcs11.ts');
      return withPkcs11Key(config, use);
    }
    case 'file': {
      const { withFileKey } = await import('./fileBackend.ts');
      return withFileKey(config, use, opts);
    }
    case 'bitcoind-wallet':
      throw walletKeepsKey(command);
    default: {
      const unknown: never = config;
      throw new Error(`unknown custody kind ${(unknown as { kind: string }).kind}`);
    }
  }
}

/**
 * Opens the configured custody (all its start-up checks), and reports the key, its health and, given
 * params, the versions that list it.
 * @throws {CodedError} the codes of openCustody
 */
export async function showKey(
  config: CustodyConfig,
  opts: CeremonyOptions & { readonly params?: GlobalParams },
): Promise<ShownKey> {
  const custody = await openCustody(config, opts);
  let health: CustodyHealth;
  let xOnly: Uint8Array;
  try {
    const keys = await custody.publicKeys();
    xOnly = keys[0]!;
    health = await custody.health();
  } finally {
    await custody.close();
  }
  // The compressed form with its true parity, for a params file: pkcs11 and file know it from the key;
  // for the wallet (x-only in the config) it is the even-Y form, which Babylon's x-only scripts accept.
  const info: KeyInfo =
    config.kind === 'bitcoind-wallet'
      ? { xOnly: toHex(xOnly), compressed: `02${toHex(xOnly)}` }
      : await withKey(config, 'show-key', (_k, i) => i, opts);
  return {
    kind: config.kind,
    ...info,
    health,
    ...(opts.params ? { paramsVersions: versionsListingKey(opts.params, xOnly).map((v) => v.version) } : {}),
  };
}

async function assertAbsent(file: string): Promise<void> {
  try {
    await access(file);
  } catch {
    return;
  }
  throw hsmError('HSM_OUTPUT_EXISTS', `${file} already exists; refusing to overwrite it`, {
    details: { file },
  });
}

/**
 * Writes a sealed backup of the covenant key: encrypted under a passphrase-derived key (scrypt +
 * AES-256-GCM), recording the public key so an import can check it. The slow derivation runs first;
 * the key is then unsealed, encrypted and wiped in one synchronous step. Not for the wallet backend.
 * @throws {CodedError} HSM_OUTPUT_EXISTS, HSM_PASSPHRASE_TOO_SHORT, HSM_CEREMONY_UNSUPPORTED, and the backend's codes
 */
export async function exportBackup(
  config: CustodyConfig,
  opts: CeremonyOptions & { readonly out: string; readonly passphrase: SecretSource },
): Promise<KeyInfo> {
  if (config.kind === 'bitcoind-wallet') throw walletKeepsKey('export-backup');
  await assertAbsent(opts.out);
  const kdf = newScryptParams();
  const backupKey = await deriveEnvelopeKey(await readPassphrase(opts.passphrase, 'backup passphrase'), kdf);
  let envelope: KeyEnvelope;
  let info: KeyInfo;
  try {
    [envelope, info] = await withKey(
      config,
      'export-backup',
      (key, i): [KeyEnvelope, KeyInfo] => [sealEnvelope(BACKUP_FORMAT, key, backupKey, kdf), i],
      opts,
    );
  } finally {
    backupKey.fill(0);
  }
  await writeNewPrivateFile(opts.out, serializeEnvelope(envelope), 'HSM_OUTPUT_EXISTS');
  return info;
}

/**
 * Restores a sealed backup into the configured custody (a fresh token, a wallet, a new key file). The
 * backup is decrypted once up front (a wrong passphrase fails before custody is touched), and again
 * inside the backend's sealing step so the key exists only for that step.
 * @throws {CodedError} HSM_FILE_UNREADABLE, HSM_BACKUP_INVALID, HSM_BACKUP_DECRYPT_FAILED, HSM_KEY_EXISTS,
 *   and the backend's codes
 */
export async function importBackup(
  config: CustodyConfig,
  opts: CeremonyOptions & { readonly from: string; readonly passphrase: SecretSource },
): Promise<KeyInfo> {
  let text: string;
  try {
    text = await readFile(opts.from, 'utf8');
  } catch (cause) {
    throw hsmError('HSM_FILE_UNREADABLE', `cannot read the backup ${opts.from}`, {
      cause,
      details: { file: opts.from },
    });
  }
  const envelope = parseEnvelope(text, BACKUP_FORMAT, BACKUP_CODES, opts.from);
  const backupKey = await deriveEnvelopeKey(
    await readSecret(opts.passphrase, 'backup passphrase'),
    envelope.kdf,
  );
  try {
    openEnvelope(envelope, backupKey, BACKUP_CODES).fill(0);
    const info = await storeKey(config, () => openEnvelope(envelope, backupKey, BACKUP_CODES), opts);
    if (info.compressed !== envelope.publicKey) {
      throw hsmError(
        'HSM_BACKUP_INVALID',
        `the backup ${opts.from} restored a key other than the one it records`,
      );
    }
    return info;
  } finally {
    backupKey.fill(0);
  }
}
