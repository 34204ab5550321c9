import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import {
  BACKUP_CODES,
  deriveEnvelopeKey,
  KEY_FILE_CODES,
  openEnvelope,
  parseEnvelope,
  type ScryptParams,
  sealEnvelope,
  serializeEnvelope,
} from './envelope.ts';
import { parsePrivateKey } from './privateKey.ts';

const KEY = '0c28fca386c7a227600b2fe50b7cae11ec86d3bf1fbe471be89827e19d72aa1d';
// The smallest cost a file may carry, to keep the unit tests fast; writers use 2^17.
const kdf: ScryptParams = { name: 'scrypt', N: 2 ** 14, r: 8, p: 1, salt: randomBytes(32) };
const PASS = 'correct horse battery staple';

async function sealed(
  format: 'babylon-covenant-key-backup' | 'babylon-covenant-dev-key-file' = 'babylon-covenant-key-backup',
) {
  const k = await deriveEnvelopeKey(PASS, kdf);
  return serializeEnvelope(sealEnvelope(format, parsePrivateKey(KEY), k, kdf));
}

interface Doc {
  [field: string]: unknown;
  publicKey: string;
  ciphertext: string;
  createdAt: string;
  kdf: { salt: string; N: number; r: number };
  cipher: { iv: string; tag: string };
}

function mutate(text: string, f: (doc: Doc) => void): string {
  const doc = JSON.parse(text);
  f(doc);
  return JSON.stringify(doc);
}

async function openText(text: string, pass = PASS): Promise<Uint8Array> {
  const env = parseEnvelope(text, 'babylon-covenant-key-backup', BACKUP_CODES, 'b.json');
  return openEnvelope(env, await deriveEnvelopeKey(pass, env.kdf), BACKUP_CODES);
}

function flipHex(hex: string): string {
  return (hex[0] === '0' ? '1' : '0') + hex.slice(1);
}

describe('passphrase envelope (scrypt + AES-256-GCM)', () => {
  it('round-trips a key and records its public key, never the key itself', async () => {
    const text = await sealed();
    expect(Buffer.from(await openText(text)).toString('hex')).toBe(KEY);
    expect(text).not.toContain(KEY);
    expect(JSON.parse(text).publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
  });

  it('refuses a wrong passphrase with the format decrypt code', async () => {
    await expect(openText(await sealed(), 'not the passphrase')).rejects.toMatchObject({
      code: 'HSM_BACKUP_DECRYPT_FAILED',
    });
  });

  it.each([
    ['the ciphertext', (d: Doc) => (d.ciphertext = flipHex(d.ciphertext))],
    [
      'the recorded public key',
      (d: Doc) => (d.publicKey = `02${'79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798'}`),
    ],
    ['the salt', (d: Doc) => (d.kdf.salt = flipHex(d.kdf.salt))],
    ['the creation time', (d: Doc) => (d.createdAt = '2000-01-01T00:00:00.000Z')],
    ['the tag', (d: Doc) => (d.cipher.tag = flipHex(d.cipher.tag))],
  ])('refuses a file whose %s was altered (bound by GCM)', async (_what, f) => {
    await expect(openText(mutate(await sealed(), f))).rejects.toMatchObject({
      code: 'HSM_BACKUP_DECRYPT_FAILED',
    });
  });

  it.each([
    ['not JSON', () => 'nope'],
    ['an unknown field', (t: string) => mutate(t, (d) => (d.extra = 1))],
    ['another format', (t: string) => mutate(t, (d) => (d.format = 'babylon-covenant-dev-key-file'))],
    ['version 2', (t: string) => mutate(t, (d) => (d.version = 2))],
    ['N below 2^14', (t: string) => mutate(t, (d) => (d.kdf.N = 2 ** 10))],
    ['N not a power of two', (t: string) => mutate(t, (d) => (d.kdf.N = 3 * 2 ** 14))],
    ['too much scrypt memory', (t: string) => mutate(t, (d) => Object.assign(d.kdf, { N: 2 ** 20, r: 8 }))],
    ['a short ciphertext', (t: string) => mutate(t, (d) => (d.ciphertext = d.ciphertext.slice(2)))],
    [
      'uppercase hex',
      (t: string) => mutate(t, (d) => (d.cipher.iv = d.cipher.iv.toUpperCase().replace(/^./, 'A'))),
    ],
  ])('refuses %s with the format invalid code', async (_what, f) => {
    const text = f(await sealed());
    try {
      parseEnvelope(text, 'babylon-covenant-key-backup', BACKUP_CODES, 'b.json');
      throw new Error('accepted');
    } catch (e) {
      expect(isCodedError(e, 'HSM_BACKUP_INVALID')).toBe(true);
    }
  });

  it('keeps the key file and the backup apart: a key file is not a backup', async () => {
    const text = await sealed('babylon-covenant-dev-key-file');
    expect(() => parseEnvelope(text, 'babylon-covenant-key-backup', BACKUP_CODES, 'f')).toThrow(
      /not a backup/,
    );
    expect(parseEnvelope(text, 'babylon-covenant-dev-key-file', KEY_FILE_CODES, 'f').format).toBe(
      'babylon-covenant-dev-key-file',
    );
  });
});
