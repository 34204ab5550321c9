import { link, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readPrivateFile as readCommonPrivateFile } from '../runtime/index.ts';
import type { SecretSource } from './config.ts';
import { type HsmErrorCode, hsmError } from './errors.ts';

/** Passphrases that protect a key file or a backup: scrypt slows guessing, it cannot save a short one. */
export const MIN_PASSPHRASE_LENGTH = 12;

/**
 * common/'s readPrivateFile with custody's codes: a secret or key file that group or others could
 * access is refused (HSM_SECRET_FILE_INSECURE); an unreadable one gets `missingCode`.
 */
export function readPrivateFile(
  file: string,
  what: string,
  missingCode: HsmErrorCode = 'HSM_SECRET_UNAVAILABLE',
): Promise<Buffer> {
  return readCommonPrivateFile(file, what, { missing: missingCode, insecure: 'HSM_SECRET_FILE_INSECURE' });
}

/**
 * Reads a PIN, password or passphrase from its file (mode 0600 or stricter) or environment variable.
 * One trailing newline is dropped (`echo pin > file`). JavaScript strings cannot be wiped, which is
 * why the value is read when needed and not kept by the caller longer than necessary.
 * @throws {CodedError} HSM_SECRET_UNAVAILABLE, HSM_SECRET_FILE_INSECURE
 */
export async function readSecret(source: SecretSource, what: string): Promise<string> {
  let value: string;
  if ('file' in source) {
    const bytes = await readPrivateFile(source.file, `the ${what} file`);
    value = bytes.toString('utf8');
    bytes.fill(0);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    else if (value.endsWith('\n')) value = value.slice(0, -1);
    if (value.length === 0) {
      throw hsmError('HSM_SECRET_UNAVAILABLE', `the ${what} file ${source.file} is empty`, {
        details: { file: source.file },
      });
    }
    return value;
  }
  value = process.env[source.env] ?? '';
  if (value.length === 0) {
    throw hsmError(
      'HSM_SECRET_UNAVAILABLE',
      `the ${what} environment variable ${source.env} is unset or empty`,
      {
        details: { env: source.env },
      },
    );
  }
  return value;
}

/** Reads a passphrase and refuses one shorter than MIN_PASSPHRASE_LENGTH characters. */
export async function readPassphrase(source: SecretSource, what: string): Promise<string> {
  const value = await readSecret(source, what);
  if ([...value].length < MIN_PASSPHRASE_LENGTH) {
    throw hsmError(
      'HSM_PASSPHRASE_TOO_SHORT',
      `the ${what} must be at least ${MIN_PASSPHRASE_LENGTH} characters`,
      { details: 'file' in source ? { file: source.file } : { env: source.env } },
    );
  }
  return value;
}

/**
 * Writes a new file with mode 0600, never replacing an existing one: the content goes to a temporary
 * file in the same directory, is flushed, then hard-linked to `file` (link fails if `file` exists, so
 * a crash leaves either no file or the whole file, and a race cannot overwrite).
 * @throws {CodedError} `existsCode` when `file` exists, HSM_FILE_UNREADABLE when it cannot be written
 */
export async function writeNewPrivateFile(
  file: string,
  content: string,
  existsCode: HsmErrorCode,
): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.writeFile(content, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    await link(tmp, file);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    if (errno === 'EEXIST') {
      throw hsmError(existsCode, `${file} already exists; refusing to overwrite it`, {
        cause,
        details: { file },
      });
    }
    throw hsmError('HSM_FILE_UNREADABLE', `cannot write ${file} (${errno ?? 'error'})`, {
      cause,
      details: { file, errno },
    });
  } finally {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
  }
}
