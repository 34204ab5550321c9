import type { Database, Key } from 'lmdb';

/** A key of a batch: its value now (undefined: removed) and in LMDB before the batch. */
interface Entry {
  readonly key: Key;
  value: unknown;
  readonly base: unknown;
}

/**
 * The state writes of one commit batch, kept in memory and written to LMDB once, at the end of the
 * batch's transaction. A key that several blocks of the batch write (a delegation staked, unbonded
 * and withdrawn; the TVL at every stake) is put once; a key created and removed within the batch
 * (a tracked output spent, an expiry reached) is never written; a key read again (the previous
 * value an undo record keeps, or the processor's read) is read from memory. Each LMDB call costs
 * several µs of lmdb-js and msgpackr; a bench:indexer sync made tens of thousands of them.
 */
export class WriteBack<N extends string> {
  readonly #dbs: (name: N) => Database<unknown, Key>;
  readonly #entries = new Map<N, Map<string, Entry>>();

  constructor(dbs: (name: N) => Database<unknown, Key>) {
    this.#dbs = dbs;
  }

  /** The value of `key` as the batch left it so far. */
  get(db: N, key: Key): unknown {
    return this.#entry(db, key, UNREAD).value;
  }

  /** Sets `key` to `value` (undefined removes it). */
  set(db: N, key: Key, value: unknown): void {
    this.#entry(db, key, UNREAD).value = value;
  }

  /**
   * Sets `key` to `value` (undefined removes it); returns its value before. `base`: the key's value
   * in LMDB when the caller knows it (the store's own mirrors; undefined: not there), so that a key
   * the batch has not touched yet is not read (a read of a missing key costs as much as a hit), or
   * `UNREAD`. No default: undefined is a value here.
   */
  swap(db: N, key: Key, value: unknown, base: unknown): unknown {
    const e = this.#entry(db, key, base);
    const prev = e.value;
    e.value = value;
    return prev;
  }

  /** Writes every changed key to LMDB (in the caller's write transaction). */
  flush(): void {
    for (const [name, entries] of this.#entries) {
      const d = this.#dbs(name);
      for (const e of entries.values()) {
        if (e.value === e.base) continue;
        if (e.value === undefined) d.removeSync(e.key as never);
        else d.putSync(e.key as never, e.value as never);
      }
    }
    this.#entries.clear();
  }

  #entry(db: N, key: Key, known: unknown): Entry {
    let m = this.#entries.get(db);
    if (!m) {
      m = new Map();
      this.#entries.set(db, m);
    }
    const id = idOf(key);
    let e = m.get(id);
    if (!e) {
      const base = known === UNREAD ? this.#dbs(db).get(key as never) : known;
      e = { key, value: base, base };
      m.set(id, e);
    }
    return e;
  }
}

/** `swap`'s `base` when the caller does not know it: read from LMDB. */
export const UNREAD: unique symbol = Symbol('unread');

// The store's keys are strings, numbers, or arrays of them (expiries: [height, txid, type]).
function idOf(key: Key): string {
  return Array.isArray(key) ? key.join('\u0000') : String(key);
}
