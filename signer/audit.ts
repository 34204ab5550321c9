import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { CodedError } from '../common/index.ts';

/**
 * The signer's audit log: append-only JSON lines, each carrying its sequence number, the previous
 * record's hash and its own hash, so a flipped byte, a removed record or a reordered record breaks
 * the chain. Every record is on disk (fdatasync) before the answer it describes leaves; concurrent
 * records share one sync (group commit).
 *
 * The same file is the anti-replay memory: at start the signer replays it to learn which unbonding
 * tx it signed for which staking output, so there is one durable source of truth, not two.
 */

export const GENESIS_HASH = '0'.repeat(64);
const HASH_SUFFIX_RE = /,"hash":"([0-9a-f]{64})"}$/;

export type AuditOutcome = 'signed' | 'repeated' | 'refused';

/** What one record says. Field names are the log's stable format. */
export interface AuditFields {
  readonly event: 'decision' | 'start' | 'stop' | 'params_loaded' | 'params_reload_refused';
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
}

function hashOf(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

export type AuditVerification =
  | { readonly ok: true; readonly records: number; readonly lastHash: string }
  | { readonly ok: false; readonly line: number; readonly reason: string; readonly records: number };

/**
 * Checks a whole log: each line parses, its hash matches its bytes, its seq is the previous + 1
 * and its prev is the previous hash. Points at the first bad line (1-based).
 */
export function verifyAuditText(text: string, onRecord?: (r: AuditRecord) => void): AuditVerification {
  let prev = GENESIS_HASH;
  let seq = 0;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = HASH_SUFFIX_RE.exec(line);
    if (!m)
      return { ok: false, line: i + 1, reason: 'the record has no hash (truncated or altered)', records: i };
    const body = `${line.slice(0, m.index)}}`;
    if (hashOf(`${prev}\n${body}`) !== m[1]) {
      return {
        ok: false,
        line: i + 1,
        reason: 'the hash does not match the record and the previous hash',
        records: i,
      };
    }
    let rec: AuditRecord;
    try {
      rec = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, line: i + 1, reason: 'the record is not JSON', records: i };
    }
    if (rec.seq !== seq + 1)
      return { ok: false, line: i + 1, reason: `expected seq ${seq + 1}, found ${rec.seq}`, records: i };
    if (rec.prev !== prev)
      return { ok: false, line: i + 1, reason: 'prev is not the previous record’s hash', records: i };
    onRecord?.(rec);
    prev = m[1]!;
    seq = rec.seq;
  }
  return { ok: true, records: seq, lastHash: prev };
}

/** Verifies a log file; a missing file is an empty, intact log. */
export function verifyAuditFile(path: string, onRecord?: (r: AuditRecord) => void): AuditVerification {
  if (!existsSync(path)) return { ok: true, records: 0, lastHash: GENESIS_HASH };
  return verifyAuditText(readFileSync(path, 'utf8'), onRecord);
}

interface Pending {
  readonly line: string;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class AuditLog {
  readonly #fh: FileHandle;
  #seq: number;
  #prev: string;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #failed: unknown;

  private constructor(fh: FileHandle, seq: number, prev: string) {
    this.#fh = fh;
    this.#seq = seq;
    this.#prev = prev;
  }

  /**
   * Opens (creating, mode 0600) and verifies the log, replaying every record through `onRecord`.
   * A broken chain refuses to open: the signer must not forget what it signed.
   * @throws {CodedError} SIGNER_AUDIT_CORRUPT, SIGNER_AUDIT_UNWRITABLE
   */
  static async open(path: string, onRecord?: (r: AuditRecord) => void): Promise<AuditLog> {
    const v = verifyAuditFile(path, onRecord);
    if (!v.ok) {
      throw new CodedError(
        'SIGNER_AUDIT_CORRUPT',
        `audit log ${path} is broken at line ${v.line}: ${v.reason}`,
      );
    }
    let fh: FileHandle;
    try {
      fh = await open(path, 'a', 0o600);
    } catch (cause) {
      throw new CodedError('SIGNER_AUDIT_UNWRITABLE', `cannot open audit log ${path} for appending`, {
        cause,
      });
    }
    return new AuditLog(fh, v.records, v.lastHash);
  }

  get records(): number {
    return this.#seq;
  }

  /**
   * Appends a record and resolves once it is on disk. Records keep the order of the calls.
   * After a write failure every later append fails too: a signer that cannot record must not sign.
   */
  append(fields: AuditFields, now = new Date()): Promise<AuditRecord> {
    if (this.#failed) return Promise.reject(this.#failed);
    const seq = this.#seq + 1;
    const rec = { seq, time: now.toISOString(), prev: this.#prev, ...fields };
    const body = JSON.stringify(rec);
    const hash = hashOf(`${this.#prev}\n${body}`);
    const line = `${body.slice(0, -1)},"hash":"${hash}"}\n`;
    this.#seq = seq;
    this.#prev = hash;
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#queue.push({ line, resolve: () => resolve({ ...rec, hash }), reject });
      if (!this.#flushing) this.#flushing = this.#flush();
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        await this.#fh.write(batch.map((p) => p.line).join(''));
        await this.#fh.datasync();
        for (const p of batch) p.resolve();
      } catch (e) {
        this.#failed = new CodedError('SIGNER_AUDIT_UNWRITABLE', 'the audit log cannot be written', {
          cause: e,
        });
        for (const p of [...batch, ...this.#queue]) p.reject(this.#failed);
        this.#queue = [];
      }
    }
    this.#flushing = undefined;
  }

  /** Waits for pending records and closes the file. */
  async close(): Promise<void> {
    await this.#flushing;
    await this.#fh.close();
  }
}
