import { describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { loadSignerConfig } from './config.ts';

/** Only what a config must be to load; files are not read at load time. */
const BASE = {
  SIGNER__SERVER__TLS_CERT_FILE: '/tls/server.crt',
  SIGNER__SERVER__TLS_KEY_FILE: '/tls/server.key',
  SIGNER__SERVER__CLIENT_CA_FILE: '/tls/ca.crt',
  SIGNER__SERVER__CLIENTS: JSON.stringify([{ name: 'pipeline', fingerprint_sha256: 'ab'.repeat(32) }]),
  SIGNER__PARAMS__FILE: '/etc/signer/global-params.json',
  SIGNER__BITCOIND__URL: 'http://127.0.0.1:8332',
  SIGNER__BITCOIND__COOKIE_FILE: '/var/lib/bitcoind/.cookie',
  SIGNER__BITCOIND__NETWORK: 'regtest',
  SIGNER__AUDIT__FILE: '/var/lib/signer/audit.jsonl',
  SIGNER__CUSTODY: '{"backend":"file"}',
};

function loadError(env: Record<string, string>): { code: string; message: string } | undefined {
  try {
    loadSignerConfig(undefined, env);
    return undefined;
  } catch (e) {
    if (isCodedError(e)) return { code: e.code, message: e.message };
    throw e;
  }
}

describe('bitcoind.url carries no credentials (secrets only from files or the environment)', () => {
  it('loads a URL without userinfo', () => {
    expect(loadError(BASE)).toBeUndefined();
  });

  it.each([
    ['user and password', 'http://rpcuser:hunter2@127.0.0.1:8332'],
    ['a user only', 'http://rpcuser@127.0.0.1:8332/'],
    ['an empty user with a password', 'https://:hunter2@node.internal:8332'],
  ])('refuses a URL with %s, naming the options to use instead, without echoing the secret', (_n, url) => {
    const err = loadError({ ...BASE, SIGNER__BITCOIND__URL: url });
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain('bitcoind.url');
    expect(err?.message).toContain('bitcoind.cookie_file');
    expect(err?.message).toContain('bitcoind.password_file');
    expect(err?.message).not.toContain('hunter2');
  });

  it('refuses the same in the offline wallet custody table', () => {
    const err = loadError({
      ...BASE,
      SIGNER__CUSTODY: JSON.stringify({
        backend: 'bitcoind-wallet',
        bitcoind_wallet: { url: 'http://u:hunter2@127.0.0.1:8332', wallet: 'covenant' },
      }),
    });
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain('custody.bitcoind_wallet.password_file');
    expect(err?.message).not.toContain('hunter2');
  });
});
