import { mkdirSync } from 'node:fs';
import { type Database, type Key, open, type RootDatabase } from 'lmdb';
import { CodedError, isCodedError } from '../common/index.ts';
import type { StakingEvent, UnsequencedEvent } from '../events/index.ts';
import { assertParamsGrewFrom, type GlobalParams, paramsVersionIdentity } from '../params/index.ts';
import type { BlockResult } from './blockResult.ts';
import type { BlockInput } from './blockTxs.ts';
import type { IndexerErrorCode } from './errors.ts';
import {
  compareExpiry,
  type Delegation,
  type Expiry,
  prefixOfKey,
  type StateReader,
  type StateWrite,
} from './state.ts';
import { UNREAD, WriteBack } from './writeBack.ts';

/**
 * The indexer's embedded store (LMDB, one file, no server). One LMDB write transaction holds,
 * for each block it commits, everything the block changed, the block's hash, an undo record (the
 * previous value of every key it touched; none when it touched none), and the block's events
 * appended to the outbox. So a block is either entirely in the store with its events, or not at
 * all, whatever instant the process dies. The undo records let `rollbackTo` return the state to any
 * earlier processed height (the `rebuild` command).
 *
 * The outbox holds one record per block (or per `appendEvents`): its events in sequence order, keyed
 * by the first one's sequence (a store written before holds one event a record, which reads the
 * same). Events the broker confirmed leave the outbox at once as far as its readers know
 * (`outboxBatch`, `outboxDepth`); their records are deleted in the next write transaction, or by
 * `persistOutboxDeletes` when the relay has nothing left to send, or at `close`, rather than in a
 * transaction (and a flush to disk) of their own per relay batch. A crash before then sends them
 * again after the restart: delivery is at least once, and consumers are idempotent.
 */

/**
 * Where lmdb keeps a database's shared msgpack structures (its objects' key lists), for the
 * databases of objects. Without them every record carries its own definition, which msgpackr
 * writes and parses at every put and get: in bench:indexer about 0.1 s of the sync's main thread.
 * A structure is recorded in the write transaction that first uses it, so it commits or aborts
 * with the records; after an abort the encoder's memory is renewed too (`#openSharedStructureDbs`).
 * Records written before (each with its own definition) still read.
 */
const STRUCTURES = Symbol.for('structures');

type DbName = 'meta' | 'delegations' | 'tracked' | 'expiries';
type UndoEntry = [DbName, unknown, unknown];

export interface LastBlock {
  readonly height: number;
  readonly hash: string;
}

interface ParamsFingerprint {
  readonly firstActivation: number;
  readonly depth: number;
  readonly versions: string[];
}

export class IndexerStore implements StateReader {
  readonly path: string;
  readonly #env: RootDatabase;
  readonly #meta: Database<unknown, string>;
  #delegations!: Database<Delegation, string>;
  readonly #tracked: Database<string, string>;
  readonly #expiries: Database<true, [number, string, string]>;
  readonly #blocks: Database<string, number>;
  #undo!: Database<UndoEntry[], number>;
  // A record: a block's events (or one event, as a store written before holds them).
  #outbox!: Database<StakingEvent[] | StakingEvent, number>;
  // In-memory mirrors, rebuilt on open and rollback, restored when a write transaction fails: the
  // tracked hashes' prefixes (the scan's filter), every pending expiry by height (one per live
  // delegation, so a block reads its expiries without an LMDB range read), the outbox's sequence
  // range (its entries are exactly [#firstSeq, #nextSeq): appended at the end, deleted from the
  // front) and the start height.
  #prefixes = new Set<number>();
  // By type, then height, then staking txid: a key of its own txid string, not one joined from the
  // txid and the type (a new string to flatten and hash at every expiry added or reached).
  #expiriesByHeight: Record<Expiry['type'], Map<number, Map<string, Expiry>>> = expiryMirror();
  #expiryJournal: Array<[expiry: Expiry, added: boolean]> = [];
  // The prefixes a write transaction added, taken out again if it aborts (the set only grows, and
  // copying it at every transaction cost O(every stake ever tracked) per commit).
  #prefixJournal: number[] = [];
  #nextSeq = 1;
  #firstSeq = 1;
  // Whether outbox records before #firstSeq (confirmed) are still in the store.
  #confirmedInStore = false;
  #start: number | undefined;
  #undoLog: UndoEntry[] | undefined;
  // During commitBlocks: the batch's state writes, held until its end.
  #batch: WriteBack<DbName> | undefined;

  private constructor(path: string, env: RootDatabase) {
    this.path = path;
    this.#env = env;
    this.#meta = env.openDB({ name: 'meta' });
    this.#tracked = env.openDB({ name: 'tracked' });
    this.#expiries = env.openDB({ name: 'expiries' });
    this.#blocks = env.openDB({ name: 'blocks' });
    this.#openSharedStructureDbs();
    this.#loadMirrors();
  }

  /**
   * (Re)opens the databases whose records share msgpack structures. A write transaction that
   * aborts after its records introduced a structure leaves that structure in the encoder's memory
   * but not in the store; a later record of the same shape would refer to it and be unreadable
   * after a restart. A fresh handle reads the structures the store holds.
   */
  #openSharedStructureDbs(): void {
    this.#delegations = this.#env.openDB({ name: 'delegations', sharedStructuresKey: STRUCTURES });
    this.#undo = this.#env.openDB({ name: 'undo', sharedStructuresKey: STRUCTURES });
    this.#outbox = this.#env.openDB({ name: 'outbox', sharedStructuresKey: STRUCTURES });
  }

  /**
   * Opens (or creates) the store at `path`, checking the params against those it was built with:
   * versions may be appended, never changed; the first activation height and depth are fixed.
   * @throws {CodedError} INDEXER_STORE_UNAVAILABLE, INDEXER_PARAMS_CHANGED
   */
  static open(path: string, params: GlobalParams): IndexerStore {
    let env: RootDatabase;
    try {
      mkdirSync(path, { recursive: true });
      env = open({ path, maxDbs: 10, compression: false });
    } catch (cause) {
      throw new CodedError<IndexerErrorCode>(
        'INDEXER_STORE_UNAVAILABLE',
        `cannot open the LMDB store at ${path}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const store = new IndexerStore(path, env);
    try {
      store.#checkParams(params);
    } catch (e) {
      void env.close();
      throw e;
    }
    return store;
  }

  #checkParams(params: GlobalParams): void {
    const fp: ParamsFingerprint = {
      // Kept only so that an older indexer reading this store still accepts it: the first
      // version's identity covers both.
      firstActivation: params.versions[0]!.activationHeight,
      depth: params.versions[0]!.confirmationDepth,
      versions: params.versions.map(paramsVersionIdentity),
    };
    const old = this.#meta.get('params') as ParamsFingerprint | undefined;
    if (old) {
      try {
        assertParamsGrewFrom(
          { versions: old.versions.length, identities: old.versions },
          params,
          'the params file',
        );
      } catch (e) {
        if (!isCodedError(e, 'PARAMS_VERSIONS_CHANGED')) throw e;
        throw new CodedError<IndexerErrorCode>(
          'INDEXER_PARAMS_CHANGED',
          `${e.message}. The store at ${this.path} was built with the versions before: rebuild it from scratch with the new params.`,
          { cause: e },
        );
      }
    }
    this.#meta.putSync('params', fp);
  }

  #loadMirrors(): void {
    const s = new Set<number>();
    for (const key of this.#tracked.getKeys()) s.add(prefixOfKey(key));
    this.#prefixes = s;
    this.#expiriesByHeight = expiryMirror();
    for (const [height, stakingTxid, type] of this.#expiries.getKeys()) {
      this.#mirrorExpiry({ height, stakingTxid, type: type as Expiry['type'] }, true);
    }
    this.#nextSeq = (this.#meta.get('nextSeq') as number | undefined) ?? 1;
    this.#firstSeq = this.#nextSeq;
    for (const key of this.#outbox.getKeys({ limit: 1 })) this.#firstSeq = key;
    this.#confirmedInStore = false;
    this.#start = this.#meta.get('start') as number | undefined;
  }

  /** Runs `write` in one write transaction; if it throws, the mirrors return to what they were. */
  #transaction<T>(write: () => T): T {
    const before = {
      nextSeq: this.#nextSeq,
      start: this.#start,
      confirmedInStore: this.#confirmedInStore,
    };
    this.#expiryJournal = [];
    this.#prefixJournal = [];
    try {
      return this.#env.transactionSync(write);
    } catch (e) {
      this.#openSharedStructureDbs();
      this.#batch = undefined;
      for (const [expiry, added] of this.#expiryJournal.reverse()) this.#mirrorExpiry(expiry, !added);
      this.#undoLog = undefined;
      for (const p of this.#prefixJournal) this.#prefixes.delete(p);
      this.#nextSeq = before.nextSeq;
      this.#start = before.start;
      this.#confirmedInStore = before.confirmedInStore;
      throw e;
    }
  }

  // ---- StateReader ----

  confirmedTvl(): number {
    return (this.#read('meta', 'tvl') as number | undefined) ?? 0;
  }
  delegation(txid: string): Delegation | undefined {
    return this.#read('delegations', txid) as Delegation | undefined;
  }
  tracked(key: string): string | undefined {
    return this.#read('tracked', key) as string | undefined;
  }
  expiriesAt(height: number): readonly Expiry[] {
    const active = this.#expiriesByHeight.active.get(height);
    const unbonding = this.#expiriesByHeight.unbonding.get(height);
    if (!active && !unbonding) return [];
    const out: Expiry[] = [];
    if (active) for (const e of active.values()) out.push(e);
    if (unbonding) for (const e of unbonding.values()) out.push(e);
    return out.sort(compareExpiry);
  }
  mayTrack(prefix: number): boolean {
    return this.#prefixes.has(prefix);
  }
  /** The prefilter itself (`hashPrefix` of every tracked tx hash), for a prescan to start from. */
  trackedPrefixes(): ReadonlySet<number> {
    return this.#prefixes;
  }

  // ---- chain position ----

  /** The last processed (confirmed) block, or undefined on an empty store. */
  last(): LastBlock | undefined {
    return this.#meta.get('last') as LastBlock | undefined;
  }
  /** The first height this store processed. */
  startHeight(): number | undefined {
    return this.#start;
  }
  blockHash(height: number): string | undefined {
    return this.#blocks.get(height);
  }

  // ---- writes ----

  /** The value of `key`: the batch's, during commitBlocks. */
  #read(db: DbName, key: Key): unknown {
    return this.#batch ? this.#batch.get(db, key) : this.#db(db).get(key);
  }
  /** Writes `key` (undefined removes it): into the batch during commitBlocks, else to LMDB. */
  #write(db: DbName, key: Key, value: unknown): void {
    if (this.#batch) this.#batch.set(db, key, value);
    else if (value === undefined) this.#db(db).removeSync(key);
    else this.#db(db).putSync(key, value);
  }
  /**
   * Puts `value` at `key` in the batch (commitBlocks), keeping its previous value for the undo
   * record; returns whether the key was new. `base`: its value in LMDB when a mirror tells it
   * (undefined: not there), else `UNREAD` (`WriteBack.swap`).
   */
  #put(db: DbName, key: Key, value: unknown, base: unknown): boolean {
    const prev = this.#batch!.swap(db, key, value, base);
    this.#undoLog?.push([db, key, prev]);
    return prev === undefined;
  }
  /**
   * Removes `key` from the batch, keeping its value for the undo record; returns whether it was
   * there. `base` as `#put`'s.
   */
  #remove(db: DbName, key: Key, base: unknown): boolean {
    const prev = this.#batch!.swap(db, key, undefined, base);
    if (prev === undefined) return false;
    this.#undoLog?.push([db, key, prev]);
    return true;
  }
  #mirrorExpiry(e: Expiry, present: boolean): void {
    const byHeight = this.#expiriesByHeight[e.type];
    let at = byHeight.get(e.height);
    if (present) {
      if (!at) {
        at = new Map();
        byHeight.set(e.height, at);
      }
      at.set(e.stakingTxid, e);
    } else if (at?.delete(e.stakingTxid) && at.size === 0) byHeight.delete(e.height);
  }
  /** An expiry's record in LMDB (`true`, or none), as the mirror tells it. */
  #expiryBase(e: Expiry): true | undefined {
    return this.#expiriesByHeight[e.type].get(e.height)?.has(e.stakingTxid) ? true : undefined;
  }
  #addPrefix(p: number): void {
    if (this.#prefixes.has(p)) return;
    this.#prefixes.add(p);
    this.#prefixJournal.push(p);
  }
  #journalExpiry(e: Expiry, added: boolean): void {
    this.#mirrorExpiry(e, added);
    this.#expiryJournal.push([e, added]);
  }
  #db(name: DbName): Database<unknown, Key> {
    switch (name) {
      case 'meta':
        return this.#meta as Database<unknown, Key>;
      case 'delegations':
        return this.#delegations as Database<unknown, Key>;
      case 'tracked':
        return this.#tracked as Database<unknown, Key>;
      case 'expiries':
        return this.#expiries as Database<unknown, Key>;
    }
  }

  #apply(writes: readonly StateWrite[]): void {
    for (const w of writes) {
      switch (w.op) {
        case 'delegation':
          // Read already: the processor looked the delegation up before it wrote it.
          this.#put('delegations', w.value.stakingTxid, w.value, UNREAD);
          break;
        case 'track': {
          // The filter holds the prefix of every key in LMDB (it only grows): a key whose prefix
          // it lacks is not there, and needs no read.
          const prefix = prefixOfKey(w.key);
          this.#put('tracked', w.key, w.stakingTxid, this.#prefixes.has(prefix) ? UNREAD : undefined);
          this.#addPrefix(prefix);
          break;
        }
        case 'untrack':
          this.#remove('tracked', w.key, UNREAD);
          break;
        // The expiry mirror holds exactly the expiries in LMDB, as the batch's writes left them:
        // for a key the batch has not touched yet (the only one `base` is taken for), LMDB's own.
        case 'addExpiry':
          if (this.#put('expiries', expiryKey(w.value), true, this.#expiryBase(w.value))) {
            this.#journalExpiry(w.value, true);
          }
          break;
        case 'removeExpiry':
          if (this.#remove('expiries', expiryKey(w.value), this.#expiryBase(w.value))) {
            this.#journalExpiry(w.value, false);
          }
          break;
        case 'tvl':
          this.#put('meta', 'tvl', w.value, UNREAD);
          break;
      }
    }
  }

  #appendOutbox(events: readonly UnsequencedEvent[]): void {
    if (events.length === 0) return;
    const first = this.#nextSeq;
    const record: StakingEvent[] = [];
    // `Object.assign`, not `{ ...event, sequence }`: in Node 20's V8 that spread takes a slow clone
    // path, and msgpackr then encodes the copies several times slower (about 12 µs a record of four
    // events, against 4 µs, in a microbenchmark). The same keys in the same order: the same bytes.
    for (let i = 0; i < events.length; i++)
      record.push(Object.assign({}, events[i]!, { sequence: first + i }) as StakingEvent);
    this.#outbox.putSync(first, record);
    this.#nextSeq = first + events.length;
    this.#write('meta', 'nextSeq', this.#nextSeq);
  }

  /**
   * In a write transaction: deletes the outbox records whose events the broker confirmed (all
   * before #firstSeq). A record confirmed in part (a relay batch ended inside it) keeps the rest,
   * under the sequence of its first unconfirmed event.
   */
  #deleteConfirmed(): void {
    if (!this.#confirmedInStore) return;
    const first = this.#firstSeq;
    let straddling: number | undefined;
    for (const key of this.#outbox.getKeys({ end: first })) {
      if (straddling !== undefined) this.#outbox.removeSync(straddling);
      straddling = key;
    }
    if (straddling !== undefined) {
      // The last record before `first` ends before it unless the next record starts after it.
      let next = this.#nextSeq;
      for (const key of this.#outbox.getKeys({ start: first, limit: 1 })) next = key;
      const record = next > first ? this.#outbox.get(straddling) : undefined;
      this.#outbox.removeSync(straddling);
      if (record !== undefined) {
        const rest = eventsOf(record).filter((e) => e.sequence >= first);
        if (rest.length > 0) this.#outbox.putSync(first, rest);
      }
    }
    this.#confirmedInStore = false;
  }

  /**
   * Decides and commits blocks in ONE write transaction: for each block in order, `decide(block,
   * this)` (the pure processor, reading the state as the previous blocks of the batch left it),
   * then its writes, hash, undo record and events. `after` events (btc-info) are appended last.
   * If anything throws, nothing of the batch is written.
   */
  commitBlocks(
    blocks: readonly BlockInput[],
    decide: (block: BlockInput, state: StateReader) => BlockResult,
    after: readonly UnsequencedEvent[] = [],
  ): BlockResult[] {
    return this.#transaction(() => {
      this.#deleteConfirmed();
      const results: BlockResult[] = [];
      this.#batch = new WriteBack((name) => this.#db(name));
      for (const block of blocks) {
        const result = decide(block, this);
        this.#undoLog = [];
        this.#apply(result.writes);
        const undo = this.#undoLog;
        this.#undoLog = undefined;
        // A block that changed nothing needs no undo record: rollbackTo reads none as empty.
        if (undo.length > 0) this.#undo.putSync(block.height, undo);
        this.#blocks.putSync(block.height, block.hash);
        if (this.#start === undefined) {
          this.#start = block.height;
          this.#meta.putSync('start', block.height);
        }
        this.#appendOutbox(result.events);
        results.push(result);
      }
      const last = blocks.at(-1);
      if (last) this.#meta.putSync('last', { height: last.height, hash: last.hash });
      this.#appendOutbox(after);
      this.#batch.flush();
      this.#batch = undefined;
      return results;
    });
  }

  /** Appends events (btc-info) to the outbox on their own. */
  appendEvents(events: readonly UnsequencedEvent[]): void {
    if (events.length === 0) return;
    this.#transaction(() => {
      this.#deleteConfirmed();
      this.#appendOutbox(events);
    });
  }

  /**
   * Returns the state to what it was after block `height` (undoing every later block), in one
   * transaction; `height` = start − 1 empties the state. The outbox is kept: its events are still
   * delivered (consumers are idempotent).
   * @throws {CodedError} INDEXER_REBUILD_HEIGHT
   */
  rollbackTo(height: number): void {
    const last = this.last();
    const start = this.startHeight();
    if (!last || start === undefined) return;
    if (height >= last.height) return;
    if (height < start - 1) {
      throw new CodedError<IndexerErrorCode>(
        'INDEXER_REBUILD_HEIGHT',
        `cannot roll back below the store's start height ${start}`,
      );
    }
    this.#transaction(() => {
      for (let h = last.height; h > height; h--) {
        const undo = this.#undo.get(h) ?? [];
        for (let i = undo.length - 1; i >= 0; i--) {
          const [db, key, prev] = undo[i]!;
          const d = this.#db(db);
          if (prev === undefined) d.removeSync(key as never);
          else d.putSync(key as never, prev as never);
        }
        this.#undo.removeSync(h);
        this.#blocks.removeSync(h);
      }
      if (height < start) {
        this.#meta.removeSync('last');
        this.#meta.removeSync('start');
      } else {
        this.#meta.putSync('last', { height, hash: this.#blocks.get(height)! });
      }
    });
    this.#loadMirrors();
  }

  // ---- outbox ----

  /** The oldest `limit` events not yet confirmed by the broker, in sequence order. */
  outboxBatch(limit: number): StakingEvent[] {
    if (this.#firstSeq >= this.#nextSeq) return [];
    return readOutbox(this.#outbox, this.#firstSeq, limit);
  }
  /** The sequence of the oldest event not yet confirmed by the broker (the relay starts there). */
  outboxFirst(): number {
    return this.#firstSeq;
  }
  /**
   * The broker confirmed the outbox's events with sequence ≤ `seq`: they leave the outbox now;
   * their records are deleted with the next write (see the class comment).
   */
  deleteOutboxThrough(seq: number): void {
    const first = Math.min(this.#nextSeq, Math.max(this.#firstSeq, seq + 1));
    if (first === this.#firstSeq) return;
    this.#firstSeq = first;
    this.#confirmedInStore = true;
  }
  /** Deletes the records of confirmed events now, in a write transaction of their own when there are any. */
  persistOutboxDeletes(): void {
    if (this.#confirmedInStore) this.#transaction(() => this.#deleteConfirmed());
  }
  /** Events not yet confirmed by the broker (O(1): a gauge read at every commit and scrape). */
  outboxDepth(): number {
    return this.#nextSeq - this.#firstSeq;
  }

  /**
   * Copies the store to `dir` (a new or empty directory) from one read transaction: a consistent
   * snapshot while the indexer keeps writing, in this process or another (LMDB's own copy, which
   * readers and the writer do not wait for). `compact` leaves out free pages (slower, smaller).
   */
  async backup(dir: string, compact = true): Promise<void> {
    await this.#env.backup(dir, compact);
  }

  async close(): Promise<void> {
    try {
      this.persistOutboxDeletes();
    } catch {
      // They are sent again after the next start (at least once).
    }
    await this.#env.close();
  }
}

/** An expiry's key in the `expiries` database. */
function expiryKey(e: Expiry): [number, string, string] {
  return [e.height, e.stakingTxid, e.type];
}

function expiryMirror(): Record<Expiry['type'], Map<number, Map<string, Expiry>>> {
  return { active: new Map(), unbonding: new Map() };
}

/**
 * Reads a store's outbox from another thread (the relay's): committed events only, each read from
 * the store's latest commit. lmdb-js shares one environment between the threads of a process.
 */
export class OutboxReader {
  readonly #env: RootDatabase;
  readonly #outbox: Database<StakingEvent[] | StakingEvent, number>;

  private constructor(env: RootDatabase) {
    this.#env = env;
    this.#outbox = env.openDB({ name: 'outbox', sharedStructuresKey: STRUCTURES });
  }

  /** @throws {CodedError} INDEXER_STORE_UNAVAILABLE */
  static open(path: string): OutboxReader {
    try {
      return new OutboxReader(open({ path, maxDbs: 10, compression: false }));
    } catch (cause) {
      throw new CodedError<IndexerErrorCode>(
        'INDEXER_STORE_UNAVAILABLE',
        `cannot open the LMDB store at ${path}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** At most `limit` committed events from sequence `first` on, in sequence order. */
  batch(first: number, limit: number): StakingEvent[] {
    // The read transaction this thread holds may predate the writer's last commit.
    this.#env.resetReadTxn();
    return readOutbox(this.#outbox, first, limit);
  }

  async close(): Promise<void> {
    await this.#env.close();
  }
}

/** At most `limit` events of `outbox` from sequence `first` on, in sequence order. */
function readOutbox(
  outbox: Database<StakingEvent[] | StakingEvent, number>,
  first: number,
  limit: number,
): StakingEvent[] {
  const out: StakingEvent[] = [];
  if (limit <= 0) return out;
  // From the record holding `first`: the last one keyed at or before it.
  let start = first;
  for (const key of outbox.getKeys({ start: first, reverse: true, limit: 1 })) start = key;
  for (const { value } of outbox.getRange({ start })) {
    for (const e of eventsOf(value)) {
      if (e.sequence < first) continue;
      out.push(e);
      if (out.length === limit) return out;
    }
  }
  return out;
}

/** The events of an outbox record: a block's, or one (a store written before). */
function eventsOf(record: StakingEvent[] | StakingEvent): readonly StakingEvent[] {
  return Array.isArray(record) ? record : [record];
}
