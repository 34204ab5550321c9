import { createHmac, randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AuditCustody } from './custody.ts';
import { hsmError } from './errors.ts';
import type { CustodyLogger } from './logger.ts';
import { readPrivateFile, writeNewPrivateFile } from './secrets.ts';

/*
 * The audit key and anchor of the backends that cannot keep them in a token (file, bitcoind-wallet):
 * an HMAC key in this process's memory, and an anchor in a file on this host (file) or in the
 * wallet node (bitcoind-wallet). They stop anyone who can edit the audit log but not the key; they
 * cannot stop whoever can read the key and write the anchor too.
 */

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw hsmError('HSM_FILE_UNREADABLE', `cannot read the audit anchor ${path}`, {
      cause: e,
      details: { file: path },
    });
  }
}

/** Whether the stored anchor is the one a writer expects (undefined: none); the compare of compare-and-replace. */
export function anchorIs(current: Uint8Array | undefined, expected: Uint8Array | undefined): boolean {
  return current === undefined
    ? expected === undefined
    : expected !== undefined && Buffer.from(current).equals(expected);
}

/**
 * Replaces `path` atomically and durably: a temporary file is written and synced, renamed over the
 * old one, and the directory synced, so a crash leaves the old anchor or the new one, never half.
 */
async function replaceDurably(path: string, value: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(value);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (cause) {
    await unlink(tmp).catch(() => {});
    throw hsmError('HSM_FILE_UNREADABLE', `cannot write the audit anchor ${path}`, {
      cause,
      details: { file: path },
    });
  }
}

/** Where a backend without a token keeps the anchor: read it, and replace it durably. */
export interface AnchorStore {
  read(): Promise<Uint8Array | undefined>;
  replace(next: Uint8Array): Promise<void>;
}

/** The anchor as a file on this host (the file backend's, beside its key file). */
export function fileAnchorStore(path: string): AnchorStore {
  return {
    async read() {
      const v = await readOptional(path);
      return v && Uint8Array.from(v);
    },
    replace: (next) => replaceDurably(path, next),
  };
}

/**
 * An AuditCustody over an HMAC key in memory and an anchor store; `close` wipes the key. The compare
 * and the replace are two steps here (no token runs them as one): a second writer is caught unless
 * it writes between the two.
 */
export function keyAuditCustody(
  key: Buffer,
  anchor: AnchorStore,
  description: string,
): AuditCustody & { close(): void } {
  let closed = false;
  const assertOpen = () => {
    if (closed) throw hsmError('HSM_CLOSED', 'the custody backend is closed');
  };
  return {
    description,
    async mac(messages) {
      assertOpen();
      return messages.map((m) => Uint8Array.from(createHmac('sha256', key).update(m).digest()));
    },
    async readAnchor() {
      assertOpen();
      return anchor.read();
    },
    async writeAnchor(next, expected) {
      assertOpen();
      if (!anchorIs(await anchor.read(), expected)) {
        throw hsmError(
          'HSM_AUDIT_ANCHOR_CONFLICT',
          'the audit anchor changed since this process last wrote it',
        );
      }
      await anchor.replace(next);
    },
    close() {
      closed = true;
      key.fill(0);
    },
  };
}

/**
 * Reads the 32-byte audit MAC key from its file (64 hex digits, mode 0600). When neither the key file
 * nor an anchor exists (a first start), creates the key from the OS RNG and warns: once an anchor
 * exists, a missing key file is an error, never silently a new key.
 * @throws {CodedError} HSM_AUDIT_KEY_INVALID, HSM_SECRET_FILE_INSECURE, HSM_SECRET_UNAVAILABLE
 */
export async function readOrCreateAuditKeyFile(
  file: string,
  anchor: AnchorStore,
  logger: CustodyLogger | undefined,
): Promise<Buffer> {
  const exists = await readOptional(file).then(
    (v) => v !== undefined,
    () => true,
  );
  if (!exists && (await anchor.read()) === undefined) {
    const fresh = randomBytes(32);
    await writeNewPrivateFile(file, `${fresh.toString('hex')}\n`, 'HSM_KEY_EXISTS');
    fresh.fill(0);
    logger?.warn(
      { file },
      'AUDIT KEY CREATED: no audit MAC key and no audit anchor existed, so a new key was written; back it up with the signer’s other secrets',
    );
  }
  const bytes = await readPrivateFile(file, 'the audit key file');
  const hex = bytes.toString('utf8').trim();
  bytes.fill(0);
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw hsmError('HSM_AUDIT_KEY_INVALID', `the audit key file ${file} does not hold 64 hex digits`, {
      details: { file },
    });
  }
  return Buffer.from(hex, 'hex');
}
