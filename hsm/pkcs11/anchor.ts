// The audit anchor in a token: the audit log's head, kept where only a holder of the token and its
// PIN can move it. Updated in place, because replacing a token object costs SoftHSM several file
// creations, unlinks and a re-read of every object file (2 ms of CPU per audit batch).
import * as graphene from 'graphene-pk11';
import { anchorIs } from '../auditFiles.ts';
import { hsmError } from '../errors.ts';
import { CKA_VALUE, ckrOf, type Handle } from './cryptoki.ts';

const CKA_LABEL = 0x3;
/** The anchor object of version 1, replaced by generation (create the successor, destroy the predecessor); read only, to migrate. */
const V1_APPLICATION = 'babylon-covenant-signer/audit-anchor';
/** The object named by the configured label: says where the anchor is, for an operator listing the token. */
const HOME_APPLICATION = 'babylon-covenant-signer/audit-anchor/v2';
/** The two objects that hold the anchor, in their CKA_LABEL. */
const SLOT_APPLICATION = 'babylon-covenant-signer/audit-anchor-slot/v2';
/** A slot's CKA_LABEL: the generation, a space, the anchor in base64. */
const SLOT_LABEL_RE = /^(\d{1,20}) ([A-Za-z0-9+/]*={0,2})$/;
const labelOf = (generation: bigint, anchor: Uint8Array): Buffer =>
  Buffer.from(
    `${generation} ${Buffer.from(anchor.buffer, anchor.byteOffset, anchor.byteLength).toString('base64')}`,
    'latin1',
  );

interface Version {
  readonly generation: bigint;
  readonly value: Buffer;
}
interface Slot extends Version {
  readonly handle: Handle;
  /** CKA_LABEL as stored: what the next write compares the slot with. */
  readonly label: Buffer;
}
/**
 * Both slots as this process last read or wrote them, true at that moment: the write path's
 * compare needs one slot read from it instead of a search and two reads (see write).
 */
interface View {
  readonly newest: Slot;
  readonly older: Slot;
}
interface Found {
  readonly home: boolean;
  readonly slots: Slot[];
  readonly v1: (Version & { readonly object: graphene.SessionObject })[];
}

const newest = <T extends Version>(all: readonly T[]): T | undefined =>
  all.reduce<T | undefined>((a, b) => (a === undefined || b.generation > a.generation ? b : a), undefined);
const oldest = <T extends Version>(all: readonly T[]): T =>
  all.reduce((a, b) => (b.generation < a.generation ? b : a));

/**
 * Where the anchor lives. SoftHSM (as the standard allows) makes a data object's CKA_VALUE,
 * CKA_APPLICATION and CKA_OBJECT_ID read-only; CKA_LABEL of a modifiable one it rewrites in place
 * (one object file truncated and rewritten, no other file touched). So the anchor is the label of
 * one of two private token data objects, the slots, each `<generation> <base64>`: a write puts
 * generation g+1 into the slot holding the older generation, and the newest generation is the
 * anchor. Measured through writeAnchor on SoftHSM 2.6.1 (the loaded 2-core VM): 0.38–0.40 ms of CPU
 * and a p50 of 0.8–2.1 ms per write in place, against 1.9–2.1 ms and 11–17.5 ms for version 1's
 * create + destroy. The write's compare reads only the slot it replaces once both are known (write):
 * 2026-12-07, 1,250-byte anchors, 6 alternating runs of 3,000 writes on the loaded VM, process CPU
 * per write 0.58 ms (0.55–0.79) against 0.77 ms (0.68–1.02) reading both, every pair lower.
 *
 * Why two slots, crash-consistency: SoftHSM rewrites an object file by truncating it and writing it
 * (two system calls, no fsync). A process killed in between leaves that file empty or short, and
 * SoftHSM then lists it without its attributes (or not at all), so it no longer matches the slots'
 * template: the other slot still holds the previous generation, which is the anchor the log was at
 * before the interrupted write, and the interrupted batch was answered to no one (answers leave only
 * after writeAnchor returns), so the anchor still never lags a released signature. The next write
 * recreates the missing slot. A slot matches the template only if its CKA_APPLICATION and CKA_VALUE
 * were written, and SoftHSM writes attributes in order of their type number, CKA_LABEL (3) before
 * CKA_APPLICATION (0x10) and CKA_VALUE (0x11), so a slot that matches has its whole label.
 *
 * Migration: version 1 kept the anchor as 8-byte generation ‖ value in the CKA_VALUE of objects
 * labelled with the configured label. They are read as candidates of the same generation sequence,
 * and destroyed by the first write, once a slot holds a later generation; a crash before that
 * leaves both forms and the newest generation still wins. An older signer run after that finds no
 * anchor of its form and refuses to start on a keyed log (SIGNER_AUDIT_ROLLBACK) rather than read a
 * stale one.
 *
 * The object labelled with the configured label (CKA_APPLICATION …/audit-anchor/v2) names the slots
 * for someone listing the token; reads do not need it. Slots are tied to it by their CKA_VALUE, the
 * configured label, fixed at creation.
 */
export class TokenAnchor {
  readonly #label: string;
  readonly #slotTemplate: graphene.ITemplate;
  /** Set once both slots exist and no version 1 object is left; cleared by any failure in the write path. */
  #view: View | undefined;

  constructor(label: string) {
    this.#label = label;
    this.#slotTemplate = {
      class: graphene.ObjectClass.DATA,
      application: SLOT_APPLICATION,
      value: Buffer.from(label, 'utf8'),
    };
  }

  read(session: graphene.Session): Buffer | undefined {
    const found = this.#find(session);
    this.#remember(found);
    return newest(this.#candidates(found))?.value;
  }

  /**
   * Replaces the anchor if it still is `expected`. Runs synchronously in one session, so nothing in
   * this process runs between the compare and the replace.
   *
   * The compare, when this process knows both slots (#view): `expected` is the newest slot's value
   * as last seen, and the slot about to be replaced still holds, byte for byte, the label last seen
   * in it. That is as strong as reading both slots against any writer that follows this protocol (a
   * second signer, the accept command, a signer of an earlier version 2 release): every such write
   * replaces the slot holding the older generation with a generation above both, and must itself
   * have found that slot unchanged, so the first write by anyone since this process's view was true
   * went to the very slot this process is about to replace, and a label with that generation never
   * comes back. It costs one attribute read (SoftHSM: the token's and the object's generation files)
   * instead of a search and two. A mismatch, or any failure, falls back to the search and the read
   * of every candidate (the first write's path), which decides exactly as before.
   */
  write(session: graphene.Session, next: Uint8Array, expected: Uint8Array | undefined): void {
    const view = this.#view;
    this.#view = undefined;
    if (view && anchorIs(view.newest.value, expected) && this.#holds(session, view.older)) {
      const generation = view.newest.generation + 1n;
      const label = labelOf(generation, next);
      this.#setLabel(session, view.older.handle, label);
      this.#view = {
        newest: { handle: view.older.handle, generation, value: Buffer.from(next), label },
        older: view.newest,
      };
      return;
    }
    const found = this.#find(session);
    const current = newest(this.#candidates(found));
    this.#check(current?.value, expected);
    const generation = (current?.generation ?? 0n) + 1n;
    const label = labelOf(generation, next);
    if (!found.home) this.#createHome(session);
    let written: Handle;
    if (found.slots.length < 2) {
      written = session.create({
        ...this.#slotTemplate,
        token: true,
        private: true,
        modifiable: true,
        label: label.toString('latin1'),
      }).handle;
    } else {
      written = oldest(found.slots).handle;
      this.#setLabel(session, written, label);
    }
    // Only now that a slot holds a later generation: until here the old form was the anchor.
    for (const old of found.v1) old.object.destroy();
    // With exactly two slots now; a third someone made leaves every write on this path, as it finds.
    const other = found.slots.find((s) => !s.handle.equals(written));
    if (other && found.slots.length <= 2) {
      this.#view = {
        newest: { handle: written, generation, value: Buffer.from(next), label },
        older: other,
      };
    }
  }

  /** Whether the slot still holds the label last seen in it; a slot the token no longer knows does not. */
  #holds(session: graphene.Session, slot: Slot): boolean {
    try {
      const [attr] = session.lib.C_GetAttributeValue(session.handle, slot.handle, [{ type: CKA_LABEL }]);
      return attr?.value?.equals(slot.label) === true;
    } catch (e) {
      if (ckrOf(e) === 'CKR_OBJECT_HANDLE_INVALID') return false;
      throw e;
    }
  }

  /** Both slots as read, once no version 1 object is left; the newest as read() picks it. */
  #remember(found: Found): void {
    const top = newest(found.slots);
    const other = found.slots.find((s) => s !== top);
    this.#view =
      top && other && found.slots.length === 2 && found.v1.length === 0
        ? { newest: top, older: other }
        : undefined;
  }

  #check(current: Uint8Array | undefined, expected: Uint8Array | undefined): void {
    if (!anchorIs(current, expected)) {
      throw hsmError(
        'HSM_AUDIT_ANCHOR_CONFLICT',
        `the audit anchor "${this.#label}" changed since this process last wrote it`,
        { details: { auditAnchorLabel: this.#label } },
      );
    }
  }

  #candidates(found: Found): Version[] {
    return [...found.slots, ...found.v1];
  }

  #find(session: graphene.Session): Found {
    const home = session.find({
      class: graphene.ObjectClass.DATA,
      label: this.#label,
      application: HOME_APPLICATION,
    });
    const slots = session.find(this.#slotTemplate);
    const v1 = session.find({
      class: graphene.ObjectClass.DATA,
      label: this.#label,
      application: V1_APPLICATION,
    });
    const out: Found = { home: home.length > 0, slots: [], v1: [] };
    for (let i = 0; i < slots.length; i++) out.slots.push(this.#readSlot(session, slots.items(i).handle));
    for (let i = 0; i < v1.length; i++) {
      const object = v1.items(i);
      const raw = object.getAttribute(CKA_VALUE) as Buffer | undefined;
      if (!raw || raw.length < 8) throw this.#malformed('a version 1 anchor is shorter than its generation');
      out.v1.push({ object, generation: raw.readBigUInt64BE(0), value: raw.subarray(8) });
    }
    return out;
  }

  #readSlot(session: graphene.Session, handle: Handle): Slot {
    const [attr] = session.lib.C_GetAttributeValue(session.handle, handle, [{ type: CKA_LABEL }]);
    const label = attr?.value ?? Buffer.alloc(0);
    const m = SLOT_LABEL_RE.exec(label.toString('latin1'));
    if (!m) throw this.#malformed('an anchor slot’s label is not “<generation> <base64>”');
    return { handle, label, generation: BigInt(m[1]!), value: Buffer.from(m[2]!, 'base64') };
  }

  #setLabel(session: graphene.Session, handle: Handle, label: Buffer): void {
    session.lib.C_SetAttributeValue(session.handle, handle, [{ type: CKA_LABEL, value: label }]);
  }

  #createHome(session: graphene.Session): void {
    session.create({
      class: graphene.ObjectClass.DATA,
      token: true,
      private: true,
      modifiable: false,
      label: this.#label,
      application: HOME_APPLICATION,
      value: Buffer.from(
        `audit anchor: the newest "<generation> <base64>" in CKA_LABEL of the data objects with CKA_APPLICATION "${SLOT_APPLICATION}" and CKA_VALUE "${this.#label}"`,
        'utf8',
      ),
    });
  }

  #malformed(reason: string): Error {
    return hsmError('HSM_PKCS11_ERROR', `the audit anchor "${this.#label}": ${reason}`, {
      details: { auditAnchorLabel: this.#label },
    });
  }
}
