import { hash as digest } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { CodedError, isCodedError, toHex } from '../common/index.ts';
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
 *   - the anchor: the head (counter, seq, hash, signed count) and, when small enough, the records of
 *     the batch that moved it, MACed and sealed in custody before any answer the batch describes
 *     leaves, so a log shorter than or diverging from it (truncated, an older copy restored) is
 *     refused at start. Because it carries the batch, the anchor is written while the batch's synced
 *     write goes to disk: a crash between the two leaves a log that lacks at most that batch (or holds
 *     a torn piece of it), which start-up completes from the anchor (repairFromAnchor); a log missing
 *     more is refused as before. A batch too large to carry is written first and anchored after.
 *
 * Records written by older versions have a hash and no mac ("unkeyed"); they are accepted only as a
 * prefix, vouched for by the first keyed record, which `accept-audit-log` writes.
 */

export const GENESIS_HASH = '0'.repeat(64);
const LINE_RE = /,"hash":"([0-9a-f]{64})"(?:,"mac":"([0-9a-f]{64})")?}$/;
/** Domain tags: a record MAC can never pass for an anchor MAC, or the reverse. */
const RECORD_TAG = 'babylon-covenant-signer/audit-record/v1\n';
const ANCHOR_TAG = 'babylon-covenant-signer/audit-anchor/v1\n';
/** Version 2 carries the batch and no record MAC; version 1 anchors (head and record MAC) are still read. */
const ANCHOR_VERSION = 2;
/**
 * The largest anchor (JSON characters, before its MAC) that carries its batch: about a dozen
 * phase-1 decisions. Bounds what custody stores per batch (SoftHSM's label, the wallet's label, the
 * file backend's file); a larger batch is anchored without its records, after its write.
 */
const ANCHOR_CARRY_MAX = 8192;
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
  /** Version 1 only: the record's MAC. Version 2 compares the hash, which commits to the record. */
  readonly mac?: string;
  /** `signed` decisions in records 1..seq: the anti-replay memory's size at the anchor. */
  readonly signed: number;
  /**
   * Version 2: the bodies (records without hash and mac) of the batch that moved the anchor to seq,
   * in order, ending at seq; empty when the batch was too large to carry (or for seq 0).
   */
  readonly batch?: readonly string[];
}

type AnchorHead = Omit<AuditAnchor, 'mac'> & { readonly batch: readonly string[] };

const anchorMacInput = (body: string) => Buffer.from(`${ANCHOR_TAG}${body}`, 'utf8');

function anchorBody(a: AnchorHead): string {
  return JSON.stringify({ v: ANCHOR_VERSION, ...a });
}

function sealAnchor(body: string, mac: Uint8Array): Uint8Array {
  return Buffer.from(`${body.slice(0, -1)},"anchor_mac":"${toHex(mac)}"}`, 'utf8');
}

export type ReadAnchor =
  | { readonly state: 'none' }
  | { readonly state: 'valid'; readonly anchor: AuditAnchor; readonly raw: Uint8Array }
  | { readonly state: 'invalid'; readonly raw: Uint8Array };

const isHex64 = (x: unknown): x is string => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** The anchor's fields, if its version is known and they have their types; custody's bytes are checked, not trusted. */
function anchorFields(body: string): AuditAnchor | undefined {
  const a = JSON.parse(body) as Record<string, unknown>;
  const { v, counter, seq, hash, mac, signed, batch } = a;
  if (!isCount(counter) || !isCount(seq) || !isHex64(hash) || !isCount(signed)) return undefined;
  if (v === 1) return isHex64(mac) ? { counter, seq, hash, mac, signed } : undefined;
  if (v !== 2 || !Array.isArray(batch) || !batch.every((b) => typeof b === 'string')) return undefined;
  return { counter, seq, hash, signed, batch: batch as string[] };
}

/** Reads and authenticates custody's anchor; one that does not verify under the audit key is `invalid`. */
export async function readAnchor(audit: AuditCustody): Promise<ReadAnchor> {
  const raw = await audit.readAnchor();
  if (!raw) return { state: 'none' };
  const text = Buffer.from(raw).toString('utf8');
  const m = /,"anchor_mac":"([0-9a-f]{64})"}$/.exec(text);
  if (!m) return { state: 'invalid', raw };
  const body = `${text.slice(0, m.index)}}`;
  const [mac] = await audit.mac([anchorMacInput(body)]);
  if (toHex(mac!) !== m[1]) return { state: 'invalid', raw };
  const anchor = anchorFields(body);
  return anchor ? { state: 'valid', anchor, raw } : { state: 'invalid', raw };
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
 * fine (a crash after the log's synced write, before the anchor write): it chains from the anchored
 * record. A log shorter than the anchor is refused here; repairFromAnchor is the only way past that.
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
  // Every anchor past seq 0 sealed a keyed record: its hash alone would let the MACs be stripped.
  if (
    at.hash !== anchor.hash ||
    at.mac === undefined ||
    (anchor.mac !== undefined && at.mac !== anchor.mac)
  ) {
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

/** A log line as the signer writes it: the body, then its hash and MAC. */
function lineOf(body: string, hash: string, mac: string): string {
  return `${body.slice(0, -1)},"hash":"${hash}","mac":"${mac}"}\n`;
}

/** A log that lacked the anchor's last batch (or part of it), completed from the batch the anchor carries. */
export interface AuditRepair {
  /** The completed log, verified in full (every MAC, and against the anchor). */
  readonly verification: Extract<KeyedVerification, { ok: true }>;
  /** Bytes of the file kept: its complete lines (a torn, newline-less tail is cut). */
  readonly keep: number;
  /** Bytes of the torn tail cut. */
  readonly torn: number;
  /** The lines appended, records `from`..`to`. */
  readonly lines: string;
  readonly from: number;
  readonly to: number;
}

/**
 * Completes a log that ends before custody's anchor, when it lacks only the batch the anchor carries:
 * the crash between the anchor write and the batch's synced write, which run together. Only when
 * the log's complete lines end at seq k with first − 1 ≤ k < anchor seq (first: the first carried
 * record), its lines first..k are the carried ones byte for byte, and the log completed with the
 * rest verifies in full: it chains (the carried records from the log's record first − 1), every MAC
 * verifies (the carried records' MACs are made again under the key: the anchor's MAC authenticates
 * their bodies), and checkAnchor accepts it (it ends at the anchored hash, with the anchored number
 * of signed decisions). Then the completed log is exactly the one the signer wrote, by the hash
 * chain, so nothing a repair keeps or adds can drop a signed record. Anything else returns
 * undefined and is judged as before (SIGNER_AUDIT_ROLLBACK, SIGNER_AUDIT_CORRUPT).
 */
export async function repairFromAnchor(
  path: string,
  text: string,
  read: ReadAnchor,
  audit: AuditCustody,
): Promise<AuditRepair | undefined> {
  if (read.state !== 'valid' || !read.anchor.batch?.length) return undefined;
  const { anchor } = read;
  const batch = anchor.batch!;
  const end = text.lastIndexOf('\n') + 1;
  // The usual case, a whole log at or past the anchor, costs one parse of the last line.
  if (end === text.length && end > 0) {
    const lastLine = text.slice(text.lastIndexOf('\n', end - 2) + 1, end - 1);
    const seq = parseSeq(lastLine);
    if (seq === undefined || seq >= anchor.seq) return undefined;
  }
  const lines = text.slice(0, end).split('\n');
  lines.pop();
  const first = parseSeq(batch[0]!);
  if (first === undefined || first < 1 || lines.length < first - 1 || lines.length >= anchor.seq) {
    return undefined;
  }
  let prev = first === 1 ? GENESIS_HASH : LINE_RE.exec(lines[first - 2]!)?.[1];
  if (prev === undefined) return undefined;
  const hashes = batch.map((body) => {
    prev = hashOf(`${prev}\n${body}`);
    return prev;
  });
  const macs = await audit.mac(hashes.map(recordMacInput));
  const carried = batch.map((body, i) => lineOf(body, hashes[i]!, toHex(macs[i]!)));
  // What the interrupted write did put down must be the carried records themselves.
  const written = lines.slice(first - 1);
  if (written.some((l, i) => `${l}\n` !== carried[i])) return undefined;
  const writtenChars = written.reduce((n, l) => n + l.length + 1, 0);
  const v = await verifyKeyedAudit(`${text.slice(0, end - writtenChars)}${carried.join('')}`, audit);
  if (!v.ok) return undefined;
  try {
    checkAnchor(path, v.recordsList, read);
  } catch {
    return undefined;
  }
  const keep = Buffer.byteLength(text.slice(0, end));
  return {
    verification: v,
    keep,
    torn: Buffer.byteLength(text) - keep,
    lines: carried.slice(written.length).join(''),
    from: lines.length + 1,
    to: v.records,
  };
}

function parseSeq(line: string): number | undefined {
  try {
    const { seq } = JSON.parse(line) as { seq?: unknown };
    return Number.isSafeInteger(seq) ? (seq as number) : undefined;
  } catch {
    return undefined;
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

/**
 * openForAppend, after completing the file as `repair` says: the torn tail cut, the carried records
 * appended and synced, before anything else is appended or replayed.
 */
async function openCompleted(path: string, repair: AuditRepair | undefined): Promise<FileHandle> {
  const fh = await openForAppend(path);
  if (!repair) return fh;
  try {
    await fh.truncate(repair.keep);
    await fh.write(repair.lines);
    // The write is synced (O_DSYNC); this also makes the cut durable.
    await fh.datasync();
    return fh;
  } catch (cause) {
    await fh.close();
    throw new CodedError('SIGNER_AUDIT_UNWRITABLE', `cannot complete the audit log ${path}`, { cause });
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
  #repaired: AuditRepair | undefined;
  /** Whether anchors carry their batch; off once custody refused one that did (anchorWithoutBatch). */
  #carry = true;

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
    const repair = await repairFromAnchor(path, text, read, audit);
    const v = repair?.verification ?? (await verifyKeyedAudit(text, audit));
    if (!v.ok) {
      throw new CodedError(
        'SIGNER_AUDIT_CORRUPT',
        `audit log ${path} is broken at line ${v.line}: ${v.reason}`,
      );
    }
    if (!repair) checkAnchor(path, v.recordsList, read);
    const fh = await openCompleted(path, repair);
    for (const r of v.recordsList) onRecord?.(r);
    const log = new AuditLog(fh, audit, headOf(v, read));
    log.#onFailure = onFailure;
    log.#repaired = repair;
    if (read.state === 'none') {
      try {
        await log.#writeAnchor({ seq: 0, hash: GENESIS_HASH, signed: 0 });
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
    // A log the anchor can complete is completed first: accepting it short would forget its last batch.
    const repair = await repairFromAnchor(path, text, read, audit);
    const v = repair?.verification ?? (await verifyKeyedAudit(text, audit));
    if (!v.ok) {
      throw new CodedError(
        'SIGNER_AUDIT_CORRUPT',
        `audit log ${path} is broken at line ${v.line}: ${v.reason}; a forged or damaged record is never accepted: keep a copy, truncate the log to its first ${v.records} records, and accept that`,
      );
    }
    const log = new AuditLog(await openCompleted(path, repair), audit, headOf(v, read));
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

  /** What open completed from custody's anchor (records from..to appended, bytes of a torn line cut), if anything. */
  get repaired(): Pick<AuditRepair, 'from' | 'to' | 'torn'> | undefined {
    const r = this.#repaired;
    return r && { from: r.from, to: r.to, torn: r.torn };
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

  /** An anchor that carries no batch: a fresh log's at seq 0, or one after its batch's write (anchorWithoutBatch). */
  async #writeAnchor(head: Omit<AnchorHead, 'counter' | 'batch'>): Promise<void> {
    const body = this.#nextAnchorBody({ ...head, batch: [] });
    const [mac] = await this.#audit.mac([anchorMacInput(body)]);
    await this.#storeAnchor(sealAnchor(body, mac!));
  }

  #nextAnchorBody(head: Omit<AnchorHead, 'counter'>): string {
    return anchorBody({ counter: this.#counter + 1, ...head });
  }

  async #storeAnchor(next: Uint8Array): Promise<void> {
    await this.#audit.writeAnchor(next, this.#anchorRaw);
    this.#counter++;
    this.#anchorRaw = next;
  }

  /**
   * Group commit: per batch, whatever its size, one custody MAC call (the records' MACs and the new
   * anchor's: the anchor carries the records' bodies and the last hash, not their MACs, so it needs
   * none of them), one synced write (O_DSYNC) and one anchor write, so keying the chain adds custody
   * round trips per batch, not per record. The anchor write runs while the write goes to disk when
   * the anchor carries the batch (a crash between the two is completed at start, repairFromAnchor);
   * a batch too large to carry is anchored only after its write returned, so the anchor is never
   * ahead of the log by records it cannot restore. Every record of the batch is answered only after
   * both succeeded. A batch is taken at once when no decision is expected (one request in flight
   * never waits); otherwise it waits for them (expect, LINGER_MS).
   */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#expected > 0 && !this.#closing) await this.#linger();
      const batch = this.#queue;
      this.#queue = [];
      try {
        let signed = this.#signed;
        for (const p of batch) if (p.signed) signed++;
        const last = batch.at(-1)!;
        const head = { seq: last.rec.seq, hash: last.hash, signed };
        let anchor = this.#carry ? this.#nextAnchorBody({ ...head, batch: batch.map((p) => p.body) }) : '';
        const carried = anchor !== '' && anchor.length <= ANCHOR_CARRY_MAX;
        if (!carried) anchor = this.#nextAnchorBody({ ...head, batch: [] });
        const inputs = batch.map((p) => recordMacInput(p.hash));
        inputs.push(anchorMacInput(anchor));
        const raw = await this.#audit.mac(inputs);
        const macs: string[] = [];
        let lines = '';
        for (const [i, p] of batch.entries()) {
          const mac = toHex(raw[i]!);
          macs.push(mac);
          lines += lineOf(p.body, p.hash, mac);
        }
        const sealed = sealAnchor(anchor, raw[batch.length]!);
        if (carried) {
          // The write first: it goes to the thread pool, and the anchor write (synchronous in
          // SoftHSM) runs on this thread meanwhile. Both are waited for, whichever fails.
          const [written, stored] = await Promise.allSettled([
            this.#fh.write(lines),
            this.#storeAnchor(sealed),
          ]);
          if (written.status === 'rejected') throw written.reason;
          if (stored.status === 'rejected') await this.#anchorWithoutBatch(stored.reason, head);
        } else {
          await this.#fh.write(lines);
          await this.#storeAnchor(sealed);
        }
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

  /**
   * After custody refused an anchor that carried its batch, and the batch's write is on disk: the
   * head alone, as a batch too large to carry is anchored, and no batch carried from then on. A
   * custody may limit the anchor's size (a token limiting CKA_LABEL's length), and a batch that
   * could not be anchored would stop the signer. A conflict (another writer moved it) is final.
   */
  async #anchorWithoutBatch(refusal: unknown, head: Omit<AnchorHead, 'counter' | 'batch'>): Promise<void> {
    if (isCodedError(refusal, 'HSM_AUDIT_ANCHOR_CONFLICT')) throw refusal;
    await this.#writeAnchor(head);
    this.#carry = false;
  }

  /** Waits for pending records (without waiting for expected ones) and closes the file. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    await this.#flushing;
    await this.#fh.close();
  }
}
