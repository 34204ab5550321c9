import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { promisify } from 'node:util';
import * as graphene from 'graphene-pk11';
import * as ecc from 'tiny-secp256k1';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { toHex } from '../common/index.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import { testKey } from '../test/keys.ts';
import type { Pkcs11CustodyConfig } from './config.ts';
import {
  exportBackup,
  generateKey,
  importBackup,
  importKey,
  initToken,
  openCustody,
  parseCustodyConfig,
  showKey,
} from './index.ts';
import { Token } from './pkcs11/token.ts';
import { openPkcs11Custody, type Pkcs11Custody } from './pkcs11.ts';
import { unbondingRequestFor } from './testRequests.ts';

/** The pkcs11 backend against a real SoftHSM2 token in a private token directory. */
let hsm: SoftHsmDir;
let pinFile: string;
let soPinFile: string;
const logger = { warn: vi.fn(), info: vi.fn() };
const opts = { logger };

function config(token: string, over: Record<string, unknown> = {}): Pkcs11CustodyConfig {
  return parseCustodyConfig({
    backend: 'pkcs11',
    pkcs11: { token_label: token, pin_file: pinFile, sessions: 3, ...over },
  }) as Pkcs11CustodyConfig;
}

/** A token with its PIN and (by default) a generated covenant key. */
async function token(label: string, withKey = true): Promise<Pkcs11CustodyConfig> {
  const c = config(label);
  await initToken(c, { soPin: { file: soPinFile } });
  if (withKey) await generateKey(c, opts);
  return c;
}

/**
 * Raw graphene access to a token, for tests that break it on purpose. Only while no backend of this
 * process is open: the backend's module reference would otherwise be finalised under it.
 */
function rawToken<T>(label: string, fn: (session: graphene.Session) => T): T {
  const module = graphene.Module.load('/usr/lib/softhsm/libsofthsm2.so', 'raw');
  module.initialize({ flags: 2 });
  try {
    const slots = module.getSlots(true);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      if (slot.getToken().label.trim() !== label) continue;
      const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
      session.login('1234');
      try {
        return fn(session);
      } finally {
        session.close();
      }
    }
    throw new Error(`no token ${label}`);
  } finally {
    module.finalize();
  }
}

beforeAll(async () => {
  hsm = await createSoftHsmDir();
  pinFile = await hsm.secretFile('user.pin', '1234\n');
  soPinFile = await hsm.secretFile('so.pin', 'so-pin-5678');
});
afterAll(async () => {
  await hsm?.cleanup();
});

describe('pkcs11 custody on SoftHSM', () => {
  let main: Pkcs11CustodyConfig;
  let custody: Pkcs11Custody;
  beforeAll(async () => {
    main = await token('main');
    custody = await openPkcs11Custody(main, opts);
  });
  afterAll(async () => {
    await custody?.close();
  });

  it('signs: the signature verifies against the sighash under the sealed key', async () => {
    const [key] = await custody.publicKeys();
    const req = unbondingRequestFor(key!);
    const sig = await custody.sign(req);
    expect(sig).toHaveLength(64);
    expect(ecc.verifySchnorr(req.sighash, key!, sig)).toBe(true);
  });

  it('leaves no session objects behind: what the sessions see is the same before and after 50 signs', async () => {
    const [key] = await custody.publicKeys();
    await custody.sign(unbondingRequestFor(key!, { label: 'first' }));
    const before = await custody.objectsSeen();
    for (let i = 0; i < 50; i++) await custody.sign(unbondingRequestFor(key!, { label: `n${i}` }));
    expect(await custody.objectsSeen()).toEqual(before);
    // The token holds exactly the KEK, the sealed key and the audit MAC key; the one session object is
    // the signing session's working key: an AES key the token never lets out, able only to encrypt
    // and decrypt.
    expect(before.map((s) => s.tokenObjects)).toEqual(before.map(() => 3));
    expect(before.flatMap((s) => s.sessionObjects)).toEqual([
      {
        class: graphene.ObjectClass.SECRET_KEY,
        keyType: graphene.KeyType.AES,
        private: true,
        sensitive: true,
        extractable: false,
        modifiable: false,
        encrypt: true,
        decrypt: true,
        sign: false,
        verify: false,
        wrap: false,
        unwrap: false,
        derive: false,
      },
    ]);
  });

  it('serves 200 concurrent signs across its session pool, every signature valid (OS locking, no crash)', async () => {
    const [key] = await custody.publicKeys();
    const reqs = Array.from({ length: 200 }, (_, i) => unbondingRequestFor(key!, { label: `c${i}` }));
    const sigs = await Promise.all(reqs.map((r) => custody.sign(r)));
    expect(sigs.filter((s, i) => !ecc.verifySchnorr(reqs[i]!.sighash, key!, s))).toEqual([]);
  });

  it('reports health: token present, logged in, KEK and sealed key present and unsealable', async () => {
    const h = await custody.health();
    expect(h.ok).toBe(true);
    expect(h.detail).toContain(toHex((await custody.publicKeys())[0]!));
  });

  it('never overwrites a covenant key: generate-key and import-key on a token that has one (HSM_KEY_EXISTS)', async () => {
    await expect(generateKey(main, opts)).rejects.toMatchObject({ code: 'HSM_KEY_EXISTS' });
    await expect(importKey(main, Uint8Array.from(testKey('x').privateKey), opts)).rejects.toMatchObject({
      code: 'HSM_KEY_EXISTS',
    });
  });

  it('never reinitialises a token: init-token on an existing label (HSM_TOKEN_EXISTS)', async () => {
    await expect(initToken(main, { soPin: { file: soPinFile } })).rejects.toMatchObject({
      code: 'HSM_TOKEN_EXISTS',
    });
  });
});

/**
 * Changes the token's KEK while a backend of this process has it open: through a second Token of the
 * same process (rawToken would finalise the module under the backend).
 */
async function withTokenSession(c: Pkcs11CustodyConfig, fn: (s: graphene.Session) => void): Promise<void> {
  const t = await Token.open(c, { readWrite: true });
  try {
    await t.use((s) => {
      fn(s);
      return undefined;
    });
  } finally {
    t.close();
  }
}
const deleteKek = (s: graphene.Session) =>
  s.find({ class: graphene.ObjectClass.SECRET_KEY, label: 'covenant-kek' }).items(0).destroy();

describe('pkcs11 working keys: signing decrypts under a session key, the token KEK still decides', () => {
  it('keeps signing on the working key, until health finds the KEK gone and stops signing (HSM_KEK_NOT_FOUND)', async () => {
    const c = await token('kek-health');
    // A look-up of the KEK vouches for the working keys for longer than this test: only health looks.
    const custody = await openPkcs11Custody(c, { ...opts, kekRecheckMs: 3_600_000 });
    try {
      const [key] = await custody.publicKeys();
      const req = unbondingRequestFor(key!);
      await custody.sign(req);
      await withTokenSession(c, deleteKek);
      expect(ecc.verifySchnorr(req.sighash, key!, await custody.sign(req))).toBe(true);
      const h = await custody.health();
      expect(h).toMatchObject({ ok: false });
      expect(h.detail).toMatch(/no key-encryption key/);
      await expect(custody.sign(req)).rejects.toMatchObject({ code: 'HSM_KEK_NOT_FOUND' });
      expect((await custody.objectsSeen()).flatMap((s) => s.sessionObjects)).toEqual([]);
    } finally {
      await custody.close();
    }
  });

  it('looks the KEK up again once the last look-up is older than the recheck interval: a deleted KEK stops the next signature, a replaced one cannot unseal', async () => {
    const c = await token('kek-recheck');
    const custody = await openPkcs11Custody(c, { ...opts, kekRecheckMs: 0 });
    try {
      const [key] = await custody.publicKeys();
      const req = unbondingRequestFor(key!);
      await custody.sign(req);
      await withTokenSession(c, deleteKek);
      await expect(custody.sign(req)).rejects.toMatchObject({ code: 'HSM_KEK_NOT_FOUND' });
      await withTokenSession(c, (s) => {
        s.generateKey(graphene.KeyGenMechanism.AES, {
          keyType: graphene.KeyType.AES,
          valueLen: 32,
          label: 'covenant-kek',
          token: true,
          private: true,
          sensitive: true,
          extractable: false,
          modifiable: false,
          wrap: true,
          unwrap: true,
        });
      });
      await expect(custody.sign(req)).rejects.toMatchObject({ code: 'HSM_SEALED_KEY_INVALID' });
      expect((await custody.health()).ok).toBe(false);
    } finally {
      await custody.close();
    }
  });
});

describe('pkcs11 refusals', () => {
  it('refuses a wrong PIN (HSM_PIN_INCORRECT)', async () => {
    await token('pin-test');
    const wrong = await hsm.secretFile('wrong.pin', '9999');
    await expect(openCustody(config('pin-test', { pin_file: wrong }), opts)).rejects.toMatchObject({
      code: 'HSM_PIN_INCORRECT',
    });
  });

  it('refuses a PIN file of mode 0644 (HSM_SECRET_FILE_INSECURE) before touching the token', async () => {
    const open = await hsm.secretFile('open.pin', '1234', 0o644);
    await expect(openCustody(config('pin-test', { pin_file: open }), opts)).rejects.toMatchObject({
      code: 'HSM_SECRET_FILE_INSECURE',
    });
  });

  it('refuses a token without the KEK (HSM_KEK_NOT_FOUND)', async () => {
    await token('no-kek', false);
    await expect(openCustody(config('no-kek'), opts)).rejects.toMatchObject({ code: 'HSM_KEK_NOT_FOUND' });
  });

  it('refuses a KEK label on a key that is extractable (HSM_KEK_INVALID)', async () => {
    await token('weak-kek', false);
    rawToken('weak-kek', (s) =>
      s.generateKey(graphene.KeyGenMechanism.AES, {
        keyType: graphene.KeyType.AES,
        valueLen: 32,
        label: 'covenant-kek',
        token: true,
        private: true,
        sensitive: true,
        extractable: true,
        wrap: true,
        unwrap: true,
      }),
    );
    await expect(openCustody(config('weak-kek'), opts)).rejects.toMatchObject({ code: 'HSM_KEK_INVALID' });
  });

  it('refuses a token whose sealed key is missing (HSM_SEALED_KEY_NOT_FOUND) or altered (HSM_SEALED_KEY_INVALID)', async () => {
    await token('tamper');
    const value = rawToken('tamper', (s) => {
      const obj = s.find({ class: graphene.ObjectClass.DATA, label: 'covenant-key' }).items(0);
      const v = Buffer.from(obj.getAttribute(0x11) as Buffer);
      obj.destroy();
      return v;
    });
    await expect(openCustody(config('tamper'), opts)).rejects.toMatchObject({
      code: 'HSM_SEALED_KEY_NOT_FOUND',
    });
    value[value.length - 3]! ^= 0x01; // inside the RFC 5649 wrapped blob
    rawToken('tamper', (s) =>
      s.create({
        class: graphene.ObjectClass.DATA,
        token: true,
        private: true,
        label: 'covenant-key',
        application: 'babylon-covenant-signer/sealed-key',
        value,
      }),
    );
    await expect(openCustody(config('tamper'), opts)).rejects.toMatchObject({
      code: 'HSM_SEALED_KEY_INVALID',
    });
  });

  it('refuses an unknown token label (HSM_TOKEN_NOT_FOUND) and two tokens with one label (HSM_LABEL_AMBIGUOUS)', async () => {
    await expect(openCustody(config('nobody'), opts)).rejects.toMatchObject({ code: 'HSM_TOKEN_NOT_FOUND' });
    await token('twin');
    // softhsm2-util takes PINs on argv: acceptable for a throwaway test token, never for a real one.
    await promisify(execFile)(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'twin', '--so-pin', '12345678', '--pin', '1234'],
      {
        env: { ...process.env, ...hsm.env },
      },
    );
    await expect(openCustody(config('twin'), opts)).rejects.toMatchObject({ code: 'HSM_LABEL_AMBIGUOUS' });
  });

  it('refuses a PKCS#11 library that does not exist (HSM_PKCS11_LIBRARY)', async () => {
    await expect(
      openCustody(config('main', { library: '/nonexistent/libpkcs11.so' }), opts),
    ).rejects.toMatchObject({
      code: 'HSM_PKCS11_LIBRARY',
    });
  });

  it('refuses to sign for a key the token does not hold (HSM_KEY_NOT_HELD), and after close (HSM_CLOSED)', async () => {
    const custody = await openCustody(config('pin-test'), opts);
    const other = testKey('not-in-the-token').xOnly;
    await expect(custody.sign(unbondingRequestFor(other))).rejects.toMatchObject({
      code: 'HSM_KEY_NOT_HELD',
    });
    await custody.close();
    await custody.close();
    const [key] = [testKey('any').xOnly];
    await expect(custody.sign(unbondingRequestFor(key))).rejects.toMatchObject({ code: 'HSM_CLOSED' });
    expect((await custody.health()).ok).toBe(false);
  });
});

describe('pkcs11 key ceremonies', () => {
  it('import-key seals a given key: the token reports its public key and signs with it', async () => {
    const k = testKey('pkcs11-import');
    const c = await token('import', false);
    expect((await importKey(c, Uint8Array.from(k.privateKey), opts)).xOnly).toBe(toHex(k.xOnly));
    const custody = await openCustody(c, opts);
    try {
      expect((await custody.publicKeys()).map(toHex)).toEqual([toHex(k.xOnly)]);
      const req = unbondingRequestFor(k.xOnly);
      expect(ecc.verifySchnorr(req.sighash, k.xOnly, await custody.sign(req))).toBe(true);
    } finally {
      await custody.close();
    }
  });

  it('sealed backup round trip: export from one token, import into a fresh token, same public key, signs', async () => {
    const from = await token('backup-from');
    const to = await token('backup-to', false);
    const out = `${hsm.dir}/covenant-backup.json`;
    const passphrase = { file: await hsm.secretFile('backup.pass', 'a long backup passphrase\n') };
    const exported = await exportBackup(from, { ...opts, out, passphrase });
    await expect(exportBackup(from, { ...opts, out, passphrase })).rejects.toMatchObject({
      code: 'HSM_OUTPUT_EXISTS',
    });
    const short = { file: await hsm.secretFile('short.pass', 'too short') };
    await expect(exportBackup(from, { ...opts, out: `${out}.2`, passphrase: short })).rejects.toMatchObject({
      code: 'HSM_PASSPHRASE_TOO_SHORT',
    });
    const wrong = { file: await hsm.secretFile('wrong.pass', 'not the backup passphrase') };
    await expect(importBackup(to, { ...opts, from: out, passphrase: wrong })).rejects.toMatchObject({
      code: 'HSM_BACKUP_DECRYPT_FAILED',
    });

    const imported = await importBackup(to, { ...opts, from: out, passphrase });
    expect(imported).toEqual(exported);
    await expect(importBackup(to, { ...opts, from: out, passphrase })).rejects.toMatchObject({
      code: 'HSM_KEY_EXISTS',
    });

    const shown = await showKey(to, opts);
    expect(shown).toMatchObject({ kind: 'pkcs11', xOnly: exported.xOnly, compressed: exported.compressed });
    expect(shown.health.ok).toBe(true);
    const custody = await openCustody(to, opts);
    try {
      const [key] = await custody.publicKeys();
      const req = unbondingRequestFor(key!);
      expect(ecc.verifySchnorr(req.sighash, key!, await custody.sign(req))).toBe(true);
    } finally {
      await custody.close();
    }
  });
});

describe('pkcs11 audit key and anchor (the signer audit log)', () => {
  it('computes HMAC-SHA256 inside the token under the audit key made with the covenant key, which never leaves it', async () => {
    const label = 'audit-mac';
    await token(label, false);
    // A known audit key, so the token's MAC can be compared with Node's; generate-key then keeps it.
    const known = Buffer.alloc(32, 7);
    rawToken(label, (s) =>
      s.create({
        class: graphene.ObjectClass.SECRET_KEY,
        keyType: graphene.KeyType.GENERIC_SECRET,
        label: 'covenant-audit-key',
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        sign: true,
        verify: true,
        value: known,
      }),
    );
    await generateKey(config(label), opts);
    const custody = await openCustody(config(label), opts);
    try {
      const msgs = [Buffer.from('one'), Buffer.from('two')];
      const macs = await custody.audit.mac(msgs);
      expect(macs.map(toHex)).toEqual(msgs.map((m) => createHmac('sha256', known).update(m).digest('hex')));
    } finally {
      await custody.close();
    }
    const read = rawToken(label, (s) => {
      const key = s.find({ class: graphene.ObjectClass.SECRET_KEY, label: 'covenant-audit-key' }).items(0);
      expect(key.getAttribute({ sensitive: null, extractable: null })).toEqual({
        sensitive: true,
        extractable: false,
      });
      try {
        key.getAttribute('value');
        return 'readable';
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(read).toMatch(/CKR_ATTRIBUTE_SENSITIVE/);
  });

  it('generates the audit key at key generation, and once, loudly, at the first start of a token without one', async () => {
    const label = 'audit-late';
    await token(label);
    const count = () =>
      rawToken(
        label,
        (s) => s.find({ class: graphene.ObjectClass.SECRET_KEY, label: 'covenant-audit-key' }).length,
      );
    expect(count()).toBe(1);
    rawToken(label, (s) =>
      s.find({ class: graphene.ObjectClass.SECRET_KEY, label: 'covenant-audit-key' }).items(0).destroy(),
    );
    const log = { warn: vi.fn(), info: vi.fn() };
    await (await openCustody(config(label), { logger: log })).close();
    expect(log.warn.mock.calls.map((c) => c[1]).join('\n')).toMatch(/AUDIT KEY CREATED/);
    expect(count()).toBe(1);
    log.warn.mockClear();
    await (await openCustody(config(label), { logger: log })).close();
    expect(log.warn).not.toHaveBeenCalled();
  });

  it('refuses an audit key label on a key that is extractable (HSM_AUDIT_KEY_INVALID)', async () => {
    const label = 'audit-weak';
    await token(label, false);
    rawToken(label, (s) =>
      s.generateKey(graphene.KeyGenMechanism.GENERIC_SECRET, {
        keyType: graphene.KeyType.GENERIC_SECRET,
        valueLen: 32,
        label: 'covenant-audit-key',
        token: true,
        private: true,
        sensitive: false,
        extractable: true,
        sign: true,
      }),
    );
    await expect(generateKey(config(label), opts)).rejects.toMatchObject({ code: 'HSM_AUDIT_KEY_INVALID' });
  });

  it('keeps the anchor in a private token object, replaced only from the value it expects (HSM_AUDIT_ANCHOR_CONFLICT)', async () => {
    const label = 'audit-anchor';
    await token(label);
    let custody = await openCustody(config(label), opts);
    try {
      expect(await custody.audit.readAnchor()).toBeUndefined();
      await custody.audit.writeAnchor(Buffer.from('first'), undefined);
      await custody.audit.writeAnchor(Buffer.from('second'), Buffer.from('first'));
      await expect(
        custody.audit.writeAnchor(Buffer.from('third'), Buffer.from('first')),
      ).rejects.toMatchObject({
        code: 'HSM_AUDIT_ANCHOR_CONFLICT',
      });
      await expect(custody.audit.writeAnchor(Buffer.from('third'), undefined)).rejects.toMatchObject({
        code: 'HSM_AUDIT_ANCHOR_CONFLICT',
      });
    } finally {
      await custody.close();
    }
    custody = await openCustody(config(label), opts);
    try {
      expect(Buffer.from((await custody.audit.readAnchor())!).toString()).toBe('second');
    } finally {
      await custody.close();
    }
    const attrs = rawToken(label, (s) =>
      s.find({ class: graphene.ObjectClass.DATA, label: 'covenant-audit-anchor' }).items(0).getAttribute({
        private: null,
        token: null,
      }),
    );
    expect(attrs).toEqual({ private: true, token: true });
  });
});
