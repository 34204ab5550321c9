import { describe, expect, it } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import { descriptorChecksum } from './descriptor.ts';
import { encodeWif, keyInfoOf, parsePrivateKey } from './privateKey.ts';

// The Bitcoin wiki's WIF example (Wallet_import_format): one key, its uncompressed and compressed WIFs.
const WIKI_KEY = '0c28fca386c7a227600b2fe50b7cae11ec86d3bf1fbe471be89827e19d72aa1d';
const WIKI_WIF_UNCOMPRESSED = '5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ';
const WIKI_WIF_COMPRESSED = 'KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617';
const N = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141';

describe('parsePrivateKey', () => {
  it.each([
    ['64 lowercase hex digits', WIKI_KEY],
    ['64 uppercase hex digits with surrounding whitespace', `  ${WIKI_KEY.toUpperCase()}\n`],
    ['an uncompressed mainnet WIF', WIKI_WIF_UNCOMPRESSED],
    ['a compressed mainnet WIF', `${WIKI_WIF_COMPRESSED}\r\n`],
  ])('reads %s', (_name, text) => {
    expect(toHex(parsePrivateKey(text))).toBe(WIKI_KEY);
    expect(toHex(parsePrivateKey(Buffer.from(text)))).toBe(WIKI_KEY);
  });

  it('reads a test-network WIF it encoded, and encodes the wiki key as the wiki does', () => {
    const key = Buffer.from(WIKI_KEY, 'hex');
    expect(encodeWif(key, 'mainnet')).toBe(WIKI_WIF_COMPRESSED);
    const testWif = encodeWif(key, 'test');
    expect(testWif.startsWith('c')).toBe(true);
    expect(toHex(parsePrivateKey(testWif))).toBe(WIKI_KEY);
  });

  it('does not modify the input bytes', () => {
    const input = Buffer.from(WIKI_KEY);
    parsePrivateKey(input);
    expect(input.toString()).toBe(WIKI_KEY);
  });

  it.each([
    ['63 hex digits', WIKI_KEY.slice(1)],
    ['65 hex digits', `${WIKI_KEY}0`],
    ['a non-hex digit', `${WIKI_KEY.slice(0, 63)}g`],
    ['zero', '00'.repeat(32)],
    ['the group order n', N],
    ['a WIF with a bad checksum', `${WIKI_WIF_COMPRESSED.slice(0, -1)}8`],
    ['a WIF with a non-base58 character', `${WIKI_WIF_COMPRESSED.slice(0, -1)}0`],
    ['empty input', '  \n'],
  ])('refuses %s with HSM_PRIVATE_KEY_INVALID and never repeats the input', (_name, text) => {
    try {
      parsePrivateKey(text);
      throw new Error('accepted');
    } catch (e) {
      expect(isCodedError(e, 'HSM_PRIVATE_KEY_INVALID')).toBe(true);
      if (text.trim().length > 8) expect((e as Error).message).not.toContain(text.trim().slice(4, 20));
    }
  });
});

describe('keyInfoOf', () => {
  it('gives the x-only and compressed public keys (generator for key 1)', () => {
    const one = new Uint8Array(32);
    one[31] = 1;
    expect(keyInfoOf(one)).toEqual({
      xOnly: '79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798',
      compressed: '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798',
    });
  });
});

describe('descriptorChecksum (BIP380)', () => {
  it.each([
    // BIP380's examples.
    ['raw(deadbeef)', '89f8spxm'],
    // Bitcoin Core's descriptor_tests: a key-only descriptor.
    ['pk(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)', 'gn28ywm7'],
  ])('%s#%s', (desc, checksum) => {
    expect(descriptorChecksum(desc)).toBe(checksum);
  });

  it('refuses a character outside the descriptor character set', () => {
    expect(descriptorChecksum('raw(dé)')).toBeUndefined();
  });
});
