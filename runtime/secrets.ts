import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CodedError } from '../common/index.ts';

/** The codes a caller wants for the two ways a secret file can be refused. */
export interface SecretFileCodes {
  readonly missing: string;
  readonly insecure: string;
}

const CONFIG_CODES: SecretFileCodes = {
  missing: 'CONFIG_SECRET_UNREADABLE',
  insecure: 'CONFIG_SECRET_PERMISSIONS',
};

/**
 * Reads a file that holds a secret or a key, refusing one that group or others could access
 * (tmkms SECRET_FILE_PERMS = 0o600). The mode is checked on the open descriptor, so the file
 * checked is the file read. Returns the bytes; the caller wipes them when it can. The message never
 * contains the secret.
 * @throws {CodedError} `codes.insecure` or `codes.missing` (default CONFIG_SECRET_PERMISSIONS / _UNREADABLE)
 */
export async function readPrivateFile(
  file: string,
  what: string,
  codes: SecretFileCodes = CONFIG_CODES,
): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    // O_NOFOLLOW is not used: operators legitimately point at symlinks (e.g. Kubernetes secrets);
    // fstat follows to the file actually opened.
    fh = await open(file, constants.O_RDONLY);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new CodedError(codes.missing, `cannot read ${what} ${file} (${errno ?? 'error'})`, {
      cause,
      details: { file, errno },
    });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new CodedError(codes.insecure, `${what} ${file} is not a regular file`, { details: { file } });
    }
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new CodedError(
        codes.insecure,
        `${what} ${file} has mode ${mode}; group and others must have no access (chmod 600)`,
        { details: { file, mode } },
      );
    }
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** A secret file's text with one trailing newline dropped (`echo secret > file`). */
export async function readSecretText(file: string, what: string, codes?: SecretFileCodes): Promise<string> {
  return (await readPrivateFile(file, what, codes)).toString('utf8').replace(/\r?\n$/, '');
}

/** readSecretText for an optional setting: undefined when no file is configured. */
export async function readOptionalSecretText(
  file: string | undefined,
  what: string,
): Promise<string | undefined> {
  return file === undefined ? undefined : readSecretText(file, what);
}

/**
 * `url` with its password taken from `file` (readSecretText), or `url` itself when no file is
 * configured: how a service keeps a broker or database password out of its config.
 */
export async function urlWithPasswordFile(
  url: string,
  file: string | undefined,
  what: string,
): Promise<string> {
  const password = await readOptionalSecretText(file, what);
  if (password === undefined) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** `url` with its password shown as `***`, for logs and messages; `[invalid <kind> url]` if it does not parse. */
export function redactUrlPassword(url: string, kind: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return `[invalid ${kind} url]`;
  }
}
