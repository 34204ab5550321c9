import { describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { isLoopbackHost, loadPipelineConfig } from './config.ts';

const KEY = `02${'79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798'}`;

/** A whole config from the environment alone, with the given signer entry. */
function load(signer: Record<string, unknown>, tls = true) {
  return loadPipelineConfig(undefined, {
    PIPELINE__BITCOIND__URL: 'http://127.0.0.1:18443',
    PIPELINE__PARAMS__FILE: '/etc/pipeline/global-params.json',
    PIPELINE__SIGNERS: JSON.stringify([{ name: 's', public_key: KEY, ...signer }]),
    ...(tls
      ? { PIPELINE__TLS__CLIENT_CERT_FILE: '/tls/c.crt', PIPELINE__TLS__CLIENT_KEY_FILE: '/tls/c.key' }
      : {}),
  });
}

function refusal(fn: () => unknown): string {
  try {
    fn();
    return 'ACCEPTED';
  } catch (e) {
    if (isCodedError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
}

describe('a signer is reached over mutual TLS, or by plain HTTP only through a sidecar on this host', () => {
  it('takes https:// with its CA and the client certificate', () => {
    expect(load({ url: 'https://signer.example:9791', ca_file: '/tls/ca.crt' }).signers[0]!.url).toBe(
      'https://signer.example:9791',
    );
  });

  it.each(['http://127.0.0.1:9792', 'http://127.8.9.10:1', 'http://localhost:9792', 'http://[::1]:9792'])(
    'takes plain %s, a loopback address, with no CA and no client certificate',
    (url) => {
      expect(load({ url }, false).signers[0]!.url).toBe(url);
    },
  );

  it.each([
    [
      'http://10.0.0.5:9791',
      /plain http:\/\/ is allowed only to a loopback address .*10\.0\.0\.5 is not one/,
    ],
    ['http://signer.example:9791', /signer\.example is not one: use https:\/\/ with ca_file/],
    ['http://127.0.0.1.example.org:9791', /is not one/],
    ['http://user:pw@127.0.0.1:9792', /must not carry a user name or password/],
  ])('refuses %s', (url, why) => {
    const r = refusal(() => load({ url }));
    expect(r).toMatch(/^PIPELINE_CONFIG_INVALID: signer s: /);
    expect(r).toMatch(why);
  });

  it('refuses https:// without the signer CA, or without the client certificate', () => {
    expect(refusal(() => load({ url: 'https://signer.example:9791' }))).toMatch(/needs ca_file/);
    expect(refusal(() => load({ url: 'https://signer.example:9791', ca_file: '/ca' }, false))).toMatch(
      /needs the \[tls\] client_cert_file and client_key_file/,
    );
  });

  it('refuses other schemes in words', () => {
    expect(refusal(() => load({ url: 'ftp://127.0.0.1' }))).toMatch(
      /^CONFIG_INVALID: environment variable PIPELINE__SIGNERS: signers\.0\.url must be an https:\/\/ URL, or http:\/\/ to a TLS sidecar on a loopback address$/,
    );
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.255', true],
    ['localhost', true],
    ['[::1]', true],
    ['128.0.0.1', false],
    ['127.0.0.256', false],
    ['127.0.0', false],
    ['0.0.0.0', false],
    ['localhost.example', false],
  ])('%s → %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
