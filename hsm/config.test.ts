import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import { loadCustodyConfigFile, parseCustodyConfig } from './config.ts';

const KEY = '79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798';

function codeOf(fn: () => unknown): { code: string; field: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (isCodedError(e)) return { code: e.code, field: e.details?.field, message: e.message };
    throw e;
  }
  throw new Error('did not throw');
}

const pkcs11 = { backend: 'pkcs11', pkcs11: { token_label: 'covenant', pin_file: '/etc/signer/pin' } };
const wallet = {
  backend: 'bitcoind-wallet',
  bitcoind_wallet: {
    url: 'http://127.0.0.1:8332',
    wallet: 'covenant',
    cookie_file: '/data/.cookie',
    key: KEY,
  },
};
const file = { backend: 'file', file: { path: 'dev.key', passphrase_env: 'DEV_PASS' } };

describe('parseCustodyConfig', () => {
  it('fills the pkcs11 defaults and freezes the result', () => {
    const c = parseCustodyConfig(pkcs11);
    expect(c).toEqual({
      kind: 'pkcs11',
      library: '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: 'covenant',
      kekLabel: 'covenant-kek',
      keyLabel: 'covenant-key',
      pin: { file: '/etc/signer/pin' },
      sessions: 2,
      auditKeyLabel: 'covenant-audit-key',
      auditAnchorLabel: 'covenant-audit-anchor',
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen((c as { pin: object }).pin)).toBe(true);
  });

  it('parses the wallet backend with cookie auth and the x-only key', () => {
    const c = parseCustodyConfig(wallet);
    if (c.kind !== 'bitcoind-wallet') throw new Error('kind');
    expect(c.url).toBe('http://127.0.0.1:8332');
    expect(c.auth).toEqual({ cookieFile: '/data/.cookie' });
    expect(c.timeoutMs).toBe(10_000);
    expect(toHex(c.key!)).toBe(KEY);
  });

  it('parses the wallet backend with user + password_file and without a key (before generate-key)', () => {
    const c = parseCustodyConfig({
      backend: 'bitcoind-wallet',
      bitcoind_wallet: {
        url: 'https://signer-wallet:8332',
        wallet: 'w',
        user: 'u',
        password_file: '/p',
        timeout_ms: 500,
      },
    });
    expect(c).toMatchObject({ auth: { user: 'u', passwordFile: '/p' }, timeoutMs: 500, key: undefined });
    expect(c).toMatchObject({ auditKeyFile: undefined });
  });

  it('resolves the wallet backend’s audit_key_file against baseDir', () => {
    const c = parseCustodyConfig(
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, audit_key_file: 'audit.key' } },
      { baseDir: '/etc/signer' },
    );
    expect(c).toMatchObject({ auditKeyFile: '/etc/signer/audit.key' });
  });

  it('resolves relative paths against baseDir and leaves the file backend disallowed by default', () => {
    const c = parseCustodyConfig(file, { baseDir: '/etc/signer' });
    expect(c).toEqual({
      kind: 'file',
      path: '/etc/signer/dev.key',
      passphrase: { env: 'DEV_PASS' },
      allowInsecureFileBackend: false,
    });
  });

  it.each([
    [{ ...pkcs11, extra: 1 }, 'custody.extra'],
    [{ ...pkcs11, pkcs11: { ...pkcs11.pkcs11, pinfile: 'x' } }, 'custody.pkcs11.pinfile'],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, password: 'x' } },
      'custody.bitcoind_wallet.password',
    ],
    [{ ...file, file: { ...file.file, allow_insecure: true } }, 'custody.file.allow_insecure'],
    // A table for another backend is validated too: a typo there is still a typo.
    [{ ...pkcs11, file: { ...file.file, passphrase: 'x' } }, 'custody.file.passphrase'],
  ])('rejects an unknown key with HSM_CONFIG_UNKNOWN_KEY naming it (%#)', (raw, field) => {
    expect(codeOf(() => parseCustodyConfig(raw))).toMatchObject({ code: 'HSM_CONFIG_UNKNOWN_KEY', field });
  });

  it.each([
    [undefined, 'custody'],
    [{ pkcs11: pkcs11.pkcs11 }, 'custody.backend'],
    [{ backend: 'pkcs11' }, 'custody.pkcs11'],
    [{ backend: 'pkcs11', pkcs11: { pin_file: '/p' } }, 'custody.pkcs11.token_label'],
    [
      { backend: 'bitcoind-wallet', bitcoind_wallet: { url: 'http://127.0.0.1:1', cookie_file: '/c' } },
      'custody.bitcoind_wallet.wallet',
    ],
    [{ backend: 'file', file: { passphrase_env: 'X' } }, 'custody.file.path'],
  ])('rejects a missing required key with HSM_CONFIG_MISSING_KEY naming it (%#)', (raw, field) => {
    expect(codeOf(() => parseCustodyConfig(raw))).toMatchObject({ code: 'HSM_CONFIG_MISSING_KEY', field });
  });

  it.each([
    [
      { backend: 'pkcs11', pkcs11: { token_label: 't', pin_file: '/p', pin_env: 'PIN' } },
      'custody.pkcs11.pin_file',
    ],
    [{ backend: 'pkcs11', pkcs11: { token_label: 't' } }, 'custody.pkcs11.pin_file'],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, user: 'u' } },
      'custody.bitcoind_wallet.cookie_file',
    ],
    [
      { backend: 'bitcoind-wallet', bitcoind_wallet: { url: 'http://127.0.0.1:1', wallet: 'w', user: 'u' } },
      'custody.bitcoind_wallet.cookie_file',
    ],
    [
      { backend: 'file', file: { path: 'k', passphrase_file: 'a', passphrase_env: 'B' } },
      'custody.file.passphrase_file',
    ],
  ])('rejects exclusive keys set together, or neither, with HSM_CONFIG_CONFLICT (%#)', (raw, field) => {
    expect(codeOf(() => parseCustodyConfig(raw))).toMatchObject({ code: 'HSM_CONFIG_CONFLICT', field });
  });

  it.each([
    [{ backend: 'hsm', pkcs11: pkcs11.pkcs11 }, 'custody.backend'],
    [{ ...pkcs11, pkcs11: { ...pkcs11.pkcs11, sessions: 0 } }, 'custody.pkcs11.sessions'],
    [{ ...pkcs11, pkcs11: { ...pkcs11.pkcs11, sessions: 1.5 } }, 'custody.pkcs11.sessions'],
    [{ ...pkcs11, pkcs11: { ...pkcs11.pkcs11, token_label: 'x'.repeat(33) } }, 'custody.pkcs11.token_label'],
    [{ ...pkcs11, pkcs11: { ...pkcs11.pkcs11, token_label: '' } }, 'custody.pkcs11.token_label'],
    [{ backend: 'pkcs11', pkcs11: { token_label: 't', pin_env: 'not a name' } }, 'custody.pkcs11.pin_env'],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, url: 'http://u:p@127.0.0.1:8332' } },
      'custody.bitcoind_wallet.url',
    ],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, url: 'http://127.0.0.1:8332/wallet/w' } },
      'custody.bitcoind_wallet.url',
    ],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, url: 'ftp://x' } },
      'custody.bitcoind_wallet.url',
    ],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, key: `02${KEY}` } },
      'custody.bitcoind_wallet.key',
    ],
    [
      { ...wallet, bitcoind_wallet: { ...wallet.bitcoind_wallet, timeout_ms: 10 } },
      'custody.bitcoind_wallet.timeout_ms',
    ],
    [
      { ...file, file: { ...file.file, allow_insecure_file_backend: 'yes' } },
      'custody.file.allow_insecure_file_backend',
    ],
    [{ backend: 'file', file: 'dev.key' }, 'custody.file'],
  ])('rejects a bad value with HSM_CONFIG_INVALID_VALUE naming the key (%#)', (raw, field) => {
    expect(codeOf(() => parseCustodyConfig(raw))).toMatchObject({ code: 'HSM_CONFIG_INVALID_VALUE', field });
  });

  it('reads a number given as text (a SIGNER__CUSTODY__… override) and leaves a frozen table as it is', () => {
    const raw = Object.freeze({
      backend: 'pkcs11',
      pkcs11: Object.freeze({ ...pkcs11.pkcs11, sessions: '4' }),
    });
    expect(parseCustodyConfig(raw)).toMatchObject({ sessions: 4 });
    expect(raw.pkcs11).toEqual({ ...pkcs11.pkcs11, sessions: '4' });
  });

  it('refuses a NUL in a value that reaches the token or a file name', () => {
    expect(
      codeOf(() => parseCustodyConfig({ ...pkcs11, pkcs11: { ...pkcs11.pkcs11, key_label: 'a\u0000b' } })),
    ).toMatchObject({ code: 'HSM_CONFIG_INVALID_VALUE', field: 'custody.pkcs11.key_label' });
  });

  it('never repeats a URL that may carry credentials', () => {
    const e = codeOf(() =>
      parseCustodyConfig({
        ...wallet,
        bitcoind_wallet: { ...wallet.bitcoind_wallet, url: 'http://u:s3cret@127.0.0.1:1' },
      }),
    );
    expect(e.message).not.toContain('s3cret');
  });
});

describe('loadCustodyConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custody-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the [custody] table of a service TOML, ignores the service tables, resolves paths against the file', async () => {
    const f = join(dir, 'signer.toml');
    await writeFile(
      f,
      '[server]\nport = 9791\n\n[custody]\nbackend = "pkcs11"\n\n[custody.pkcs11]\ntoken_label = "covenant"\npin_file = "secrets/pin"\nsessions = 4\n',
    );
    expect(await loadCustodyConfigFile(f)).toMatchObject({
      kind: 'pkcs11',
      pin: { file: join(dir, 'secrets/pin') },
      sessions: 4,
    });
  });

  it('refuses an unreadable or non-TOML file with HSM_FILE_UNREADABLE', async () => {
    await expect(loadCustodyConfigFile(join(dir, 'missing.toml'))).rejects.toMatchObject({
      code: 'HSM_FILE_UNREADABLE',
    });
    const f = join(dir, 'bad.toml');
    await writeFile(f, '[custody\nbackend=');
    await expect(loadCustodyConfigFile(f)).rejects.toMatchObject({ code: 'HSM_FILE_UNREADABLE' });
  });

  it('refuses a file without a [custody] table with HSM_CONFIG_MISSING_KEY', async () => {
    const f = join(dir, 'none.toml');
    await writeFile(f, '[server]\nport = 1\n');
    await expect(loadCustodyConfigFile(f)).rejects.toMatchObject({ code: 'HSM_CONFIG_MISSING_KEY' });
  });
});
