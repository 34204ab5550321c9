import { createHash } from 'node:crypto';

/*
 * What someone who can write the signer's audit log but holds no custody secret can do to it: edit
 * records and recompute the unkeyed parts (seq, prev, the sha256 chain) so the log looks intact.
 */

export type AuditLine = Record<string, unknown>;

export function parseLines(text: string): AuditLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditLine);
}

/**
 * Renumbers and rechains records as the signer's sha256 chain would: seq from 1, prev the previous
 * hash, hash = sha256(prev ‖ "\n" ‖ the record without hash and mac). A `mac` is kept as it was
 * (it cannot be recomputed without the key) unless `dropMacs`, which makes the log look unkeyed.
 */
export function rechain(records: readonly AuditLine[], opts: { dropMacs?: boolean } = {}): string {
  let prev = '0'.repeat(64);
  let out = '';
  records.forEach((r, i) => {
    const { hash: _hash, mac, ...rest } = r;
    rest.seq = i + 1;
    rest.prev = prev;
    const body = JSON.stringify(rest);
    const hash = createHash('sha256').update(`${prev}\n${body}`).digest('hex');
    const tail = mac !== undefined && !opts.dropMacs ? `,"mac":${JSON.stringify(mac)}` : '';
    out += `${body.slice(0, -1)},"hash":"${hash}"${tail}}\n`;
    prev = hash;
  });
  return out;
}

/** Deletes the records matching `drop` and rechains the rest: the attack of issue 20, finding 2. */
export function deleteAndRechain(text: string, drop: (r: AuditLine) => boolean): string {
  return rechain(parseLines(text).filter((r) => !drop(r)));
}
