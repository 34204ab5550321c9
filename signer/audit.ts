import { hash as digest } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { CodedError, toHex } from '../common/index.ts';
import type { AuditCustody } from '../hsm/index.ts';

/**
 * The signer's audit log: append-only JSON lines. It is also the anti-replay memory (at start the
 * signer replays it to learn which unbonding tx it signed for which staking output), so whoever can
 * rewrite it could make the signer sign twice (issue 20, finding 2). Hence three layers:
 *
 *   - `hash` = sha256(prev ‖ "\n" ‖ the record without hash and mac): the chain, as before; anyone
 *     can recompute it, so alone it only catches accidents;
 *   - `mac` = HMAC-SHA256 under custody's audit key of the record's hash: the hash commits to every
 *     earlier record, so one MAC authenticates the whole prefix, and no one without the key can
 *     delete, insert, reorder or rechain a record;
 *   - the anchor: the head (counter, seq, hash, mac, signed count), MACed and sealed in custody after
 *     every batch's synced write and before any answer the batch describes leaves, so a log shorter than
 *     or diverging from it (truncated, an older copy restored) is refused at start.
 *
 * Records written by older versions have a hash and no mac ("unkeyed"); they are accepted only as a
 * prefix, vouched for by the first keyed record, which `accept-audit-log` writes.
 */

export const GENESIS_HASH = '0'.repeat(64);
const LINE_RE = /,"hash":"([0-9a-f]{64})"(?:,"mac":"([0-9a-f]{64})")?}$/;
/** Domain tags: a record MAC can never pass for an anchor MAC, or the reverse. */
const RECORD_TAG = 'babylon-covenant-signer/audit-record/v1\n';
const ANCHOR_TAG = 'babylon-covenant-signer/audit-anchor/v1\n';
const ANCHOR_VERSION = 1;
/** MAC requests per custody call when verifying a whole log. */
const VERIFY_CHUNK = 4096;
/**
 * How long a batch may wait for decisions under way (AuditLog.expect) before it is written. A batch
 * costs custody a MAC and an anchor write and the disk a synced write whatever its size (about 0.7 ms
 * of CPU on SoftHSM), so under concurrent load waiting for the decisions already in flight saves
 * CPU per record; alone, a decision never waits (nothing is expected).
 */
const LINGER_MS = 4;

export type AuditOutcome = 'signed' | 'repeated' | 'refused';

/** What one record says. Field names are the log's stable format. */
export interface AuditFields {
  readonly event:
    | 'decision'
    | 'start'
    | 'stop'
    | 'params_loaded'
    | 'params_reload_refused'
    | 'phase2_params_loaded'
    | 'phase2_params_reload_refused'
    | 'custody_locked'
    | 'custody_unlocked'
    | 'audit_log_accepted';
  readonly correlation_id?: string;
  readonly caller?: string;
  readonly outcome?: AuditOutcome;
  readonly code?: string;
  readonly reason?: string;
  readonly staking_txid?: string;
  readonly staking_vout?: number;
  readonly unbonding_txid?: string;
  readonly params_version?: number;
  readonly covenant_key?: string;
  readonly signature?: string;
  readonly [extra: string]: unknown;
}

export interface AuditRecord extends AuditFields {
  readonly seq: number;
  readonly time: string;
  readonly prev: string;
  readonly hash: string;
  /** Absent only in records written before the chain was keyed. */
  readonly mac?: string;
}

function hashOf(body: string): string {
  return digest('sha256', body, 'hex');
}

const isSigned = (r: AuditFields) => r.event === 'decision' && r.outcome === 'signed';
const recordMacInput = (hash: string) => Buffer.from(`${RECORD_TAG}${hash}`, 'utf8');

export type AuditVerification =
  | {
      readonly ok: true;
      readonly records: number;
      readonly lastHash: string;
      /** Records without a mac (written by an older version), all before the first keyed one. */
      readonly unkeyed: number;
    }
  | { readonly ok: false; readonly line: number; readonly reason: string; readonly records: number };

interface Scan {
  readonly verification: AuditVerification;
  readonly records: AuditRecord[];
}

function scan(text: string): Scan {
  let prev = GENESIS_HASH;
  let seq = 0;
  let unkeyed = 0;
  const records: AuditRecord[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const bad = (i: number, reason: string): Scan => ({
    verification: { ok: false, line: i + 1, reason, records: i },
    records,
  });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = LINE_RE.exec(line);
    if (!m) return bad(i, 'the record has no hash (truncated or altered)');
    const body = `${line.slice(0, m.index)}}`;
    if (hashOf(`${prev}\n${body}`) !== m[1]) {
      return bad(i, 'the hash does not match the record and the previous hash');
    }
    let rec: AuditRecord;
    try {
      rec = JSON.parse(line) as AuditRecord;
    } catch {
      return bad(i, 'the record is not JSON');
    }
    if (rec.seq !== seq + 1) return bad(i, `expected seq ${seq + 1}, found ${rec.seq}`);
    if (rec.prev !== prev) return bad(i, 'prev is not the previous record’s hash');
    if (m[2] === undefined) {
      // An unkeyed record after a keyed one can only be a forgery: the signer never writes one.
      if (unkeyed !== i) return bad(i, 'an unkeyed record (no mac) follows keyed records');
      unkeyed++;
    } else if (i === unkeyed && unkeyed > 0 && rec.event !== 'audit_log_accepted') {
      return bad(i, 'the first keyed record after unkeyed ones is not an audit_log_accepted record');
    }
    records.push(rec);
    prev = m[1]!;
    seq = rec.seq;
  }
  return { verification: { ok: true, records: seq, lastHash: prev, unkeyed }, records };
}

/**
 * Checks what anyone can check without custody: each line parses, its hash matches its bytes and
 * the previous hash, its seq is the previous + 1, and unkeyed records come only first. Points at the
 * first bad line (1-based). It cannot tell a rechained log from the signer's own: that takes the
 * MACs (verifyKeyedAudit) and the anchor (checkAnchor).
 */
export function verifyAuditText(text: string, onRecord?: (r: AuditRecord) => void): AuditVerification {
  const s = scan(text);
  if (s.verification.ok) for (const r of s.records) onRecord?.(r);
  return s.verification;
}

/**
 * Reads a log file for verification.
 * @throws {CodedError} SIGNER_AUDIT_UNREADABLE when it is missing or cannot be read: "no log" is
 *   never reported as an intact empty log
 */
export function readAuditFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new CodedError(
      'SIGNER_AUDIT_UNREADABLE',
      `cannot read the audit log ${path} (${errno ?? 'error'})`,
      {
        cause,
      },
    );
  }
}

/** verifyAuditText of a file. @throws {CodedError} SIGNER_AUDIT_UNREADABLE */
export function verifyAuditFile(path: string, onRecord?: (r: AuditRecord) => void): AuditVerification {
  return verifyAuditText(readAuditFile(path), onRecord);
}

/** The log's head as sealed in custody. */
export interface AuditAnchor {
  /** Incremented by every anchor write, including the accept command's: never goes back. */
  readonly counter: number;
  readonly seq: number;
  readonly hash: string;
  readonly mac: string;
  /** `signed` decisions in records 1..seq: the anti-replay memory's size at the anchor. */
  readonly signed: number;
}

async function encodeAnchor(audit: AuditCustody, a: AuditAnchor): Promise<Uint8Array> {
  const body = JSON.stringify({ v: ANCHOR_VERSION, ...a });
  const [mac] = await audit.mac([Buffer.from(`${ANCHOR_TAG}${body}`, 'utf8')]);
  return Buffer.from(`${body.slice(0, -1)},"anchor_mac":"${toHex(mac!)}"}`, 'utf8');
}

export type ReadAnchor =
  | { readonly state: 'none' }
  | { readonly state: 'valid'; readonly anchor: AuditAnchor; readonly raw: Uint8Array }
  | { readonly state: 'invalid'; readonly raw: Uint8Array };

/** Reads and authenticates custody's anchor; one that does not verify under the audit key is `invalid`. */
export async function readAnchor(audit: AuditCustody): Promise<ReadAnchor> {
  const raw = await audit.readAnchor();
  if (!raw) return { state: 'none' };
  const text = Buffer.from(raw).toString('utf8');
  const m = /,"anchor_mac":"([0-9a-f]{64})"}$/.exec(text);
  if (!m) return { state: 'invalid', raw };
  const body = `${text.slice(0, m.index)}}`;
  const [mac] = await audit.mac([Buffer.from(`${ANCHOR_TAG}${body}`, 'utf8')]);
  if (toHex(mac!) !== m[1]) return { state: 'invalid', raw };
  const { v, counter, seq, hash, mac: recordMac, signed } = JSON.parse(body) as AuditAnchor & { v: number };
  if (v !== ANCHOR_VERSION) return { state: 'invalid', raw };
  return { state: 'valid', anchor: { counter, seq, hash, mac: recordMac, signed }, raw };
}

export type KeyedVerification =
  | (Extract<AuditVerification, { ok: true }> & { readonly recordsList: readonly AuditRecord[] })
  | {
      readonly ok: false;
      readonly code: 'SIGNER_AUDIT_CORRUPT';
      readonly line: number;
      readonly reason: string;
      readonly records: number;
    };

/**
 * verifyAuditText, then every keyed record's MAC under custody's audit key (one custody call per
 * 4,096 records). A record whose MAC fails was written, altered or rechained by someone without it.
 */
export async function verifyKeyedAudit(text: string, audit: AuditCustody): Promise<KeyedVerification> {
  const s = scan(text);
  const v = s.verification;
  if (!v.ok) return { ...v, code: 'SIGNER_AUDIT_CORRUPT' };
  const keyed = s.records.slice(v.unkeyed);
  for (let i = 0; i < keyed.length; i += VERIFY_CHUNK) {
    const chunk = keyed.slice(i, i + VERIFY_CHUNK);
    const macs = await audit.mac(chunk.map((r) => recordMacInput(r.hash)));
    for (const [j, r] of chunk.entries()) {
      if (toHex(macs[j]!) !== r.mac) {
        const index = v.unkeyed + i + j;
        return {
          ok: false,
          code: 'SIGNER_AUDIT_CORRUPT',
          line: index + 1,
          reason:
            'the MAC does not verify under custody’s audit key (written, altered or rechained without it)',
          records: index,
        };
      }
    }
  }
  return { ...v, recordsList: s.records };
}

/**
 * Compares a log that verified under the key with custody's anchor. A log longer than the anchor is
 * fine (a crash between fdatasync and the anchor write): it chains from the anchored record.
 * @throws {CodedError} SIGNER_AUDIT_ROLLBACK (shorter than, or diverging from, the anchor; or the
 *   anchor is missing or does not verify while the log has keyed records), SIGNER_AUDIT_UNKEYED (a
 *   log of an older version, never accepted)
 */
export function checkAnchor(path: string, records: readonly AuditRecord[], read: ReadAnchor): void {
  const last = records.at(-1);
  const keyed = records.filter((r) => r.mac !== undefined);
  const rollback = (msg: string) =>
    new CodedError(
      'SIGNER_AUDIT_ROLLBACK',
      `audit log ${path}: ${msg}; if this is intended, run \`signer accept-audit-log --config <signer.toml> --reason "…"\``,
    );
  if (read.state === 'invalid') throw rollback('custody’s audit anchor does not verify under the audit key');
  if (read.state === 'none') {
    if (keyed.length > 0) {
      throw rollback(
        `custody holds no audit anchor, but the log has keyed records up to seq ${last!.seq} (the anchor was removed, or the log belongs to other custody)`,
      );
    }
    if (records.length > 0) throw unkeyed(path, records.length);
    return;
  }
  const { anchor } = read;
  if (anchor.seq === 0) {
    if (records.length > 0 && keyed.length === 0) throw unkeyed(path, records.length);
    return;
  }
  const lastSeq = last?.seq ?? 0;
  if (lastSeq < anchor.seq) {
    throw rollback(
      `the log ends at seq ${lastSeq}, but custody's anchor is at seq ${anchor.seq} (counter ${anchor.counter}): records ${lastSeq + 1}..${anchor.seq} are missing (truncated, or an older copy restored)`,
    );
  }
  const at = records[anchor.seq - 1]!;
  if (at.hash !== anchor.hash || at.mac !== anchor.mac) {
    throw rollback(
      `the log's record at seq ${anchor.seq} is not the one custody's anchor sealed (counter ${anchor.counter}): the log diverges from it`,
    );
  }
  // The anti-replay memory itself, checked against custody, not only rebuilt from the file.
  const signed = records.slice(0, anchor.seq).filter(isSigned).length;
  if (signed !== anchor.signed) {
    throw rollback(
      `records 1..${anchor.seq} hold ${signed} signed decisions, custody's anchor sealed ${anchor.signed}`,
    );
  }
}

function unkeyed(path: string, n: number): CodedError {
  return new CodedError(
    'SIGNER_AUDIT_UNKEYED',
    `audit log ${path} has ${n} records from an older version, without MACs, and no record vouches for them; check it, then run \`signer accept-audit-log --config <signer.toml> --reason "…"\` to key and anchor it`,
  );
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new CodedError('SIGNER_AUDIT_UNREADABLE', `cannot read the audit log ${path}`, { cause: e });
  }
}

async function openForAppend(path: string): Promise<FileHandle> {
  try {
    // O_DSYNC: a write returns once its bytes (and the size that reaches them) are on disk, as a
    // write then fdatasync would, in one system call and one thread-pool round trip per batch.
    return await open(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC,
      0o600,
    );
  } catch (cause) {
    throw new CodedError('SIGNER_AUDIT_UNWRITABLE', `cannot open audit log ${path} for appending`, {
      cause,
    });
  }
}

interface Pending {
  readonly body: string;
  readonly hash: string;
  readonly signed: boolean;
  /** The record without hash and mac; they are added to this object (it is only ever ours) once written. */
  readonly rec: AuditFields & { readonly seq: number; readonly time: string; readonly prev: string };
  readonly resolve: (r: AuditRecord) => void;
  readonly reject: (e: unknown) => void;
}

interface Head {
  readonly seq: number;
  readonly prev: string;
  readonly signed: number;
  readonly counter: number;
  readonly anchorRaw: Uint8Array | undefined;
}

/** Where appending continues: the verified log's head, and the anchor as read (compare-and-replace starts from it). */
function headOf(v: Extract<KeyedVerification, { ok: true }>, read: ReadAnchor): Head {
  return {
    seq: v.records,
    prev: v.lastHash,
    signed: v.recordsList.filter(isSigned).length,
    counter: read.state === 'valid' ? read.anchor.counter : 0,
    anchorRaw: read.state === 'none' ? undefined : read.raw,
  };
}

/** Who ran the accept command, for its record; a user without a passwd entry (containers) is not an error. */
function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

/** What `accept-audit-log` did. */
export interface AcceptedLog {
  readonly record: AuditRecord;
  readonly previousAnchor: ReadAnchor['state'];
}

export class AuditLog {
  readonly #fh: FileHandle;
  readonly #audit: AuditCustody;
  #seq: number;
  #prev: string;
  #signed: number;
  #counter: number;
  #anchorRaw: Uint8Array | undefined;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  /** Decisions under way that said they will append (expect). */
  #expected = 0;
  /** Ends the current wait for expected decisions. */
  #wake: (() => void) | undefined;
  #closing = false;
  #failed: unknown;
  #onFailure: ((records: number) => void) | undefined;

  private constructor(fh: FileHandle, audit: AuditCustody, head: Head) {
    this.#fh = fh;
    this.#audit = audit;
    this.#seq = head.seq;
    this.#prev = head.prev;
    this.#signed = head.signed;
    this.#counter = head.counter;
    this.#anchorRaw = head.anchorRaw;
  }

  /**
   * Opens (creating, mode 0600) the log, verifies every record's MAC under custody's audit key and
   * the log against custody's anchor, and only then replays every record through `onRecord`. A fresh
   * log is anchored at seq 0 at once, so its first records can never lack an anchor.
   * @throws {CodedError} SIGNER_AUDIT_CORRUPT, SIGNER_AUDIT_ROLLBACK, SIGNER_AUDIT_UNKEYED,
   *   SIGNER_AUDIT_UNREADABLE, SIGNER_AUDIT_UNWRITABLE, and custody's codes
   */
  static async open(
    path: string,
    audit: AuditCustody,
    onRecord?: (r: AuditRecord) => void,
    /** Told how many records failed, at the failing batch and at every append refused after it (metrics). */
    onFailure?: (records: number) => void,
  ): Promise<AuditLog> {
    const text = await readOrEmpty(path);
    const read = await readAnchor(audit);
    const v = await verifyKeyedAudit(text, audit);
    if (!v.ok) {
      throw new CodedError(
        'SIGNER_AUDIT_CORRUPT',
        `audit log ${path} is broken at line ${v.line}: ${v.reason}`,
      );
    }
    checkAnchor(path, v.recordsList, read);
    for (const r of v.recordsList) onRecord?.(r);
    const log = new AuditLog(await openForAppend(path), audit, headOf(v, read));
    log.#onFailure = onFailure;
    if (read.state === 'none') {
      try {
        await log.#writeAnchor({ seq: 0, hash: GENESIS_HASH, mac: GENESIS_HASH, signed: 0 });
      } catch (e) {
        await log.close();
        throw e;
      }
    }
    return log;
  }

  /**
   * The operator's way to accept a log the signer refuses: rolled back (truncated, an older copy),
   * unkeyed (an older version's), or with a missing or unverifiable anchor. The log must still be
   * structurally intact and every keyed record's MAC must verify: a forged record is never accepted
   * (truncate the log before it first). Appends an `audit_log_accepted` record carrying the reason,
   * the old anchor and the accepted head, and anchors custody at it. Stop the signer first: a running
   * signer's next anchor write then fails (HSM_AUDIT_ANCHOR_CONFLICT) and it stops signing.
   * @throws {CodedError} SIGNER_AUDIT_CORRUPT, SIGNER_AUDIT_UNREADABLE, SIGNER_AUDIT_UNWRITABLE
   */
  static async accept(path: string, audit: AuditCustody, reason: string): Promise<AcceptedLog> {
    const text = await readOrEmpty(path);
    const read = await readAnchor(audit);
    const v = await verifyKeyedAudit(text, audit);
    if (!v.ok) {
      throw new CodedError(
        'SIGNER_AUDIT_CORRUPT',
        `audit log ${path} is broken at line ${v.line}: ${v.reason}; a forged or damaged record is never accepted: keep a copy, truncate the log to its first ${v.records} records, and accept that`,
      );
    }
    const log = new AuditLog(await openForAppend(path), audit, headOf(v, read));
    try {
      const record = await log.append({
        event: 'audit_log_accepted',
        reason,
        operator: operatorName(),
        previous_anchor:
          read.state === 'valid'
            ? { counter: read.anchor.counter, seq: read.anchor.seq, hash: read.anchor.hash }
            : read.state,
        accepted_head: { seq: v.records, hash: v.lastHash },
        unkeyed_records: v.unkeyed,
      });
      return { record, previousAnchor: read.state };
    } finally {
      await log.close();
    }
  }

  get records(): number {
    return this.#seq;
  }

  /** Why appends fail from now on (a write, sync, MAC or anchor failure), or undefined while healthy. */
  get failure(): string | undefined {
    if (!this.#failed) return undefined;
    const cause = (this.#failed as Error).cause;
    return cause instanceof Error ? cause.message : 'the audit log cannot be written';
  }

  /**
   * Appends a record and resolves once it is on disk and custody's anchor has moved to it (or past
   * it). Records keep the order of the calls. After a failure every later append fails too: a signer
   * that cannot record must not sign.
   */
  append(fields: AuditFields, now = new Date()): Promise<AuditRecord> {
    if (this.#failed) {
      this.#onFailure?.(1);
      return Promise.reject(this.#failed);
    }
    const seq = this.#seq + 1;
    const rec = { seq, time: now.toISOString(), prev: this.#prev, ...fields };
    const body = JSON.stringify(rec);
    const hash = hashOf(`${this.#prev}\n${body}`);
    this.#seq = seq;
    this.#prev = hash;
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#queue.push({ body, hash, signed: isSigned(fields), rec, resolve, reject });
      if (!this.#flushing) this.#flushing = this.#flush();
    });
  }

  /**
   * Says that a decision under way will append a record soon. While any is expected, a batch waits
   * for them (at most LINGER_MS), so concurrent decisions share one synced write, one anchor MAC and
   * one anchor write instead of paying one each; what is written, and when an answer may leave, does
   * not change. Call the returned function (idempotent) right before that decision's append, in the
   * same synchronous step, or as soon as it will not append soon: it failed, or it is about to wait
   * for another decision's record (a batch would otherwise wait for it in vain).
   */
  expect(): () => void {
    this.#expected++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#expected--;
      // Woken through a resolved promise, the batch is taken at the earliest in a later microtask:
      // after the append that follows this call in the same synchronous step.
      if (this.#expected === 0) this.#wake?.();
    };
  }

  /** Waits until no decision is expected any more, LINGER_MS have passed, or the log is closing. */
  #linger(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, LINGER_MS);
      this.#wake = done;
    });
  }

  async #writeAnchor(head: Omit<AuditAnchor, 'counter'>): Promise<void> {
    await this.#storeAnchor(await this.#encodeNextAnchor(head));
  }

  #encodeNextAnchor(head: Omit<AuditAnchor, 'counter'>): Promise<Uint8Array> {
    return encodeAnchor(this.#audit, { counter: this.#counter + 1, ...head });
  }

  async #storeAnchor(next: Uint8Array): Promise<void> {
    await this.#audit.writeAnchor(next, this.#anchorRaw);
    this.#counter++;
    this.#anchorRaw = next;
  }

  /**
   * Group commit: per batch, whatever its size, one custody MAC call for the records, one synced
   * write (O_DSYNC), one MAC of the new anchor (made while the write is on its way to the disk: it
   * needs only the last record's hash and MAC) and one anchor write, so keying the chain adds
   * custody round trips per batch, not per record. Every record of the batch is answered only after
   * the write returned and the anchor moved past it. A batch is taken at once when no decision is
   * expected (one request in flight never waits); otherwise it waits for them (expect, LINGER_MS).
   */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#expected > 0 && !this.#closing) await this.#linger();
      const batch = this.#queue;
      this.#queue = [];
      try {
        const raw = await this.#audit.mac(batch.map((p) => recordMacInput(p.hash)));
        const macs: string[] = [];
        let lines = '';
        let signed = this.#signed;
        for (const [i, p] of batch.entries()) {
          const mac = toHex(raw[i]!);
          macs.push(mac);
          lines += `${p.body.slice(0, -1)},"hash":"${p.hash}","mac":"${mac}"}\n`;
          if (p.signed) signed++;
        }
        const last = batch.at(-1)!;
        const [, anchor] = await Promise.all([
          this.#fh.write(lines),
          this.#encodeNextAnchor({ seq: last.rec.seq, hash: last.hash, mac: macs.at(-1)!, signed }),
        ]);
        await this.#storeAnchor(anchor);
        this.#signed = signed;
        for (const [i, p] of batch.entries()) {
          p.resolve(Object.assign(p.rec, { hash: p.hash, mac: macs[i]! }));
        }
      } catch (e) {
        this.#failed = new CodedError('SIGNER_AUDIT_UNWRITABLE', 'the audit log cannot be written', {
          cause: e,
        });
        const lost = [...batch, ...this.#queue];
        for (const p of lost) p.reject(this.#failed);
        this.#queue = [];
        this.#onFailure?.(lost.length);
      }
    }
    this.#flushing = undefined;
  }

  /** Waits for pending records (without waiting for expected ones) and closes the file. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    await this.#flushing;
    await this.#fh.close();
  }
}
