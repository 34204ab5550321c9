import { readdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import * as graphene from 'graphene-pk11';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import type { Pkcs11CustodyConfig } from './config.ts';
import { generateKey, initToken, openCustody, parseCustodyConfig } from './index.ts';
import { TokenAnchor } from './pkcs11/anchor.ts';

/**
 * The pkcs11 audit anchor updated in place (hsm/pkcs11/anchor.ts) against a real SoftHSM2 token:
 * what the token holds, the migration from the version 1 objects, and a write interrupted between
 * SoftHSM's truncate and write of the slot's object file.
 */
let hsm: SoftHsmDir;
let pinFile: string;
let soPinFile: string;
const opts = { logger: { warn: vi.fn(), info: vi.fn() } };
const V1_APPLICATION = 'babylon-covenant-signer/audit-anchor';
const SLOT_APPLICATION = 'babylon-covenant-signer/audit-anchor-slot/v2';

function config(token: string): Pkcs11CustodyConfig {
  return parseCustodyConfig({
    backend: 'pkcs11',
    pkcs11: { token_label: token, pin_file: pinFile },
  }) as Pkcs11CustodyConfig;
}

async function token(label: string): Promise<Pkcs11CustodyConfig> {
  const c = config(label);
  await initToken(c, { soPin: { file: soPinFile } });
  await generateKey(c, opts);
  return c;
}

/** Raw graphene access, only while no backend of this process is open (it would finalise the module under it). */
function rawToken<T>(label: string, fn: (session: graphene.Session) => T): T {
  const module = graphene.Module.load('/usr/lib/softhsm/libsofthsm2.so', 'raw-anchor');
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

async function withCustody<T>(
  c: Pkcs11CustodyConfig,
  fn: (audit: Awaited<ReturnType<typeof openCustody>>['audit']) => Promise<T>,
): Promise<T> {
  const custody = await openCustody(c, opts);
  try {
    return await fn(custody.audit);
  } finally {
    await custody.close();
  }
}

const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());

/** Every token's object files (SoftHSM's file store: a directory per token, one `<uuid>.object` per object). */
function objectFiles(): string[] {
  return readdirSync(hsm.tokenDir).flatMap((token) =>
    readdirSync(join(hsm.tokenDir, token))
      .filter((f) => f.endsWith('.object') && f !== 'token.object')
      .map((f) => join(hsm.tokenDir, token, f)),
  );
}

beforeAll(async () => {
  hsm = await createSoftHsmDir();
  pinFile = await hsm.secretFile('user.pin', '1234\n');
  soPinFile = await hsm.secretFile('so.pin', 'so-pin-5678');
});
afterAll(async () => {
  await hsm?.cleanup();
});

describe('the pkcs11 audit anchor, updated in place', () => {
  it('keeps any number of writes in the same three private token objects: the named one and two slots', async () => {
    const c = await token('in-place');
    await withCustody(c, async (audit) => {
      let expected: Buffer | undefined;
      for (let i = 0; i < 20; i++) {
        const next = Buffer.from(`anchor ${i}`);
        await audit.writeAnchor(next, expected);
        expected = next;
      }
      expect(text(await audit.readAnchor())).toBe('anchor 19');
    });
    const objects = rawToken('in-place', (s) => {
      const data = s.find({ class: graphene.ObjectClass.DATA });
      const out = [];
      for (let i = 0; i < data.length; i++) {
        out.push(
          data.items(i).getAttribute({ application: null, private: null, token: null, modifiable: null }),
        );
      }
      return out.filter((o) => String(o.application).startsWith('babylon-covenant-signer/audit-anchor'));
    });
    expect(objects).toHaveLength(3);
    expect(objects.every((o) => o.private === true && o.token === true)).toBe(true);
    expect(objects.filter((o) => o.application === SLOT_APPLICATION && o.modifiable === true)).toHaveLength(
      2,
    );
  });

  it('migrates a version 1 anchor: reads its newest generation, moves from it, destroys the old objects', async () => {
    const c = await token('migrate');
    // Version 1 after a crash between creating the successor and destroying the predecessor.
    rawToken('migrate', (s) => {
      for (const [generation, value] of [
        [4n, 'v1 older'],
        [5n, 'v1 newest'],
      ] as const) {
        const g = Buffer.alloc(8);
        g.writeBigUInt64BE(generation);
        s.create({
          class: graphene.ObjectClass.DATA,
          token: true,
          private: true,
          modifiable: false,
          label: 'covenant-audit-anchor',
          application: V1_APPLICATION,
          value: Buffer.concat([g, Buffer.from(value)]),
        });
      }
    });
    await withCustody(c, async (audit) => {
      expect(text(await audit.readAnchor())).toBe('v1 newest');
      await expect(audit.writeAnchor(Buffer.from('x'), Buffer.from('v1 older'))).rejects.toMatchObject({
        code: 'HSM_AUDIT_ANCHOR_CONFLICT',
      });
      await audit.writeAnchor(Buffer.from('v2 first'), Buffer.from('v1 newest'));
      await audit.writeAnchor(Buffer.from('v2 second'), Buffer.from('v2 first'));
      await expect(audit.writeAnchor(Buffer.from('x'), Buffer.from('v1 newest'))).rejects.toMatchObject({
        code: 'HSM_AUDIT_ANCHOR_CONFLICT',
      });
    });
    const left = rawToken(
      'migrate',
      (s) =>
        s.find({
          class: graphene.ObjectClass.DATA,
          label: 'covenant-audit-anchor',
          application: V1_APPLICATION,
        }).length,
    );
    expect(left).toBe(0);
    await withCustody(c, async (audit) => expect(text(await audit.readAnchor())).toBe('v2 second'));
  });

  it('a write killed between truncating and writing its slot leaves the previous anchor, and the next write goes on', async () => {
    const c = await token('torn');
    let slotB = '';
    await withCustody(c, async (audit) => {
      await audit.writeAnchor(Buffer.from('one'), undefined);
      const before = new Set(objectFiles());
      await audit.writeAnchor(Buffer.from('two'), Buffer.from('one'));
      const created = objectFiles().filter((f) => !before.has(f));
      expect(created).toHaveLength(1);
      slotB = created[0]!;
      await audit.writeAnchor(Buffer.from('three'), Buffer.from('two'));
    });
    // Slot A holds "three" (written first and last), slot B "two" (created by the second write): the
    // next write goes to B. Its object file as SoftHSM leaves it when killed after the truncate
    // (empty) or during the write (short).
    const slots = () =>
      rawToken(
        'torn',
        (s) => s.find({ class: graphene.ObjectClass.DATA, application: SLOT_APPLICATION }).length,
      );
    expect(slots()).toBe(2);
    for (const size of [0, 40]) {
      truncateSync(slotB, size);
      expect(slots()).toBe(1);
      await withCustody(c, async (audit) => {
        expect(text(await audit.readAnchor())).toBe('three');
      });
    }
    await withCustody(c, async (audit) => {
      await audit.writeAnchor(Buffer.from('four'), Buffer.from('three'));
      await audit.writeAnchor(Buffer.from('five'), Buffer.from('four'));
    });
    await withCustody(c, async (audit) => expect(text(await audit.readAnchor())).toBe('five'));
    expect(slots()).toBe(2);
  });

  it('two writers on one token, each knowing the slots from its last write: a write by either fails the other’s next one (HSM_AUDIT_ANCHOR_CONFLICT)', async () => {
    const c = await token('two-writers');
    const conflict = { code: 'HSM_AUDIT_ANCHOR_CONFLICT' };
    await withCustody(c, (a) =>
      withCustody(c, async (b) => {
        await a.writeAnchor(Buffer.from('a1'), undefined);
        await a.writeAnchor(Buffer.from('a2'), Buffer.from('a1'));
        await a.writeAnchor(Buffer.from('a3'), Buffer.from('a2'));
        // One foreign write: it replaced the slot a's next write would.
        expect(text(await b.readAnchor())).toBe('a3');
        await b.writeAnchor(Buffer.from('b4'), Buffer.from('a3'));
        await expect(a.writeAnchor(Buffer.from('a5'), Buffer.from('a3'))).rejects.toMatchObject(conflict);
        // Two foreign writes: both slots moved on.
        expect(text(await a.readAnchor())).toBe('b4');
        await a.writeAnchor(Buffer.from('a5'), Buffer.from('b4'));
        await b.readAnchor();
        await b.writeAnchor(Buffer.from('b6'), Buffer.from('a5'));
        await b.writeAnchor(Buffer.from('b7'), Buffer.from('b6'));
        await expect(a.writeAnchor(Buffer.from('a8'), Buffer.from('a5'))).rejects.toMatchObject(conflict);
        // Each refused write left the anchor alone, and each writer's view of it is still checked.
        expect(text(await a.readAnchor())).toBe('b7');
        await expect(b.writeAnchor(Buffer.from('b8'), Buffer.from('b6'))).rejects.toMatchObject(conflict);
        await b.writeAnchor(Buffer.from('b8'), Buffer.from('b7'));
        await expect(a.writeAnchor(Buffer.from('a9'), Buffer.from('b7'))).rejects.toMatchObject(conflict);
        expect(text(await a.readAnchor())).toBe('b8');
      }),
    );
    await withCustody(c, async (audit) => expect(text(await audit.readAnchor())).toBe('b8'));
  });

  it('once it knows both slots, a write reads only the slot it replaces; one changed behind it sends the write back to the search, which decides as before', async () => {
    await token('one-read');
    rawToken('one-read', (s) => {
      const anchor = new TokenAnchor('covenant-audit-anchor');
      const value = (v: string) => Buffer.from(v);
      anchor.write(s, value('one'), undefined);
      anchor.write(s, value('two'), value('one'));
      const find = vi.spyOn(s, 'find');
      const get = vi.spyOn(s.lib, 'C_GetAttributeValue');
      const set = vi.spyOn(s.lib, 'C_SetAttributeValue');
      anchor.write(s, value('three'), value('two'));
      anchor.write(s, value('four'), value('three'));
      expect([find.mock.calls.length, get.mock.calls.length, set.mock.calls.length]).toEqual([0, 2, 2]);
      // Another writer (its own view, from a read) replaces the slot this one would replace next.
      const other = new TokenAnchor('covenant-audit-anchor');
      expect(other.read(s)?.toString()).toBe('four');
      other.write(s, value('five'), value('four'));
      find.mockClear();
      expect(() => anchor.write(s, value('six'), value('four'))).toThrow(
        expect.objectContaining({ code: 'HSM_AUDIT_ANCHOR_CONFLICT' }),
      );
      expect(find).toHaveBeenCalled();
      expect(other.read(s)?.toString()).toBe('five');
      // A write from what the token holds goes on, and the writer that lost sees the next one too.
      anchor.write(s, value('six'), value('five'));
      expect(() => other.write(s, value('seven'), value('five'))).toThrow(
        expect.objectContaining({ code: 'HSM_AUDIT_ANCHOR_CONFLICT' }),
      );
      expect(new TokenAnchor('covenant-audit-anchor').read(s)?.toString()).toBe('six');
    });
  });
});
