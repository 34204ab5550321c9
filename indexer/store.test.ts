import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as lmdbOpen } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGlobalParams } from '../params/index.ts';
import { startTsWorker } from '../runtime/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { processBlock } from './processor.ts';
import { txidPrefix } from './state.ts';
import { IndexerStore } from './store.ts';
import { buildStake, buildUnbonding, buildWithdrawFromStaking } from './testkit/txs.ts';

const covenants = ['st-cov-a', 'st-cov-b'].map(testKey);
const doc = testParamsDoc(covenants, { activation_height: 100, min_staking_time: 5 });
const params = parseGlobalParams(doc);
const v = params.versions[0]!;
const staker = testKey('st-staker');
const fp = testKey('st-fp');
let n = 0;
const stake = (t = 5) =>
  buildStake({
    version: v,
    staker,
    fp,
    stakingTime: t,
    valueSat: 100_000n,
    funding: { txid: (++n).toString(16).padStart(64, '0'), vout: 0, valueSat: 1_000_000n },
  });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function open(): IndexerStore {
  const d = mkdtempSync(join(tmpdir(), 'indexer-store-'));
  dirs.push(d);
  return IndexerStore.open(d, params);
}
const decide = (block: Parameters<typeof processBlock>[1], state: Parameters<typeof processBlock>[2]) =>
  processBlock(params, block, state);

describe('IndexerStore', () => {
  it('commits blocks with their events in the outbox, in sequence order, and deletes confirmed ones', async () => {
    const store = open();
    const a = stake();
    const b = stake();
    store.commitBlocks(
      [
        { height: 100, hash: 'h100', time: 1, txs: [a.tx] },
        { height: 101, hash: 'h101', time: 2, txs: [b.tx, buildUnbonding(a, covenants).tx] },
      ],
      decide,
    );
    expect(store.last()).toEqual({ height: 101, hash: 'h101' });
    expect(store.confirmedTvl()).toBe(100_000);
    const out = store.outboxBatch(10);
    expect(out.map((e) => [e.sequence, e.event_id])).toEqual([
      [1, `${a.txid}:active`],
      [2, `${b.txid}:active`],
      [3, `${a.txid}:unbonding`],
    ]);
    expect(store.outboxDepth()).toBe(3);
    store.deleteOutboxThrough(2);
    expect(store.outboxBatch(10).map((e) => e.sequence)).toEqual([3]);
    expect(store.outboxDepth()).toBe(1);
    const path = store.path;
    await store.close();
    const reopened = IndexerStore.open(path, params);
    expect(reopened.outboxDepth()).toBe(1);
    reopened.deleteOutboxThrough(3);
    expect(reopened.outboxDepth()).toBe(0);
    await reopened.close();
  });

  it("holds a block's events in one outbox record; confirmed records go with the next write, a record confirmed in part keeps the rest", async () => {
    const store = open();
    const [a, b, c] = [stake(), stake(), stake()];
    store.commitBlocks(
      [
        { height: 100, hash: 'h100', time: 1, txs: [a.tx] },
        { height: 101, hash: 'h101', time: 2, txs: [b.tx, buildUnbonding(a, covenants).tx] },
      ],
      decide,
    );
    const path = store.path;
    const records = async () => {
      const env = lmdbOpen({ path, maxDbs: 10, compression: false });
      const db = env.openDB({ name: 'outbox', sharedStructuresKey: Symbol.for('structures') });
      const out = [...db.getRange()]
        .filter(({ key }) => typeof key === 'number')
        .map(({ key, value }) => [key, (value as { sequence: number }[]).map((e) => e.sequence)]);
      await env.close();
      return out;
    };
    expect(await records()).toEqual([
      [1, [1]],
      [2, [2, 3]],
    ]);
    store.deleteOutboxThrough(2); // inside block 101's record
    expect(store.outboxBatch(10).map((e) => e.sequence)).toEqual([3]);
    expect(store.outboxDepth()).toBe(1);
    expect(await records()).toEqual([
      [1, [1]],
      [2, [2, 3]],
    ]);
    store.commitBlocks([{ height: 102, hash: 'h102', time: 3, txs: [c.tx] }], decide);
    expect(await records()).toEqual([
      [3, [3]],
      [4, [4]],
    ]);
    expect(store.outboxBatch(1).map((e) => e.sequence)).toEqual([3]);
    store.deleteOutboxThrough(3);
    store.persistOutboxDeletes();
    expect(await records()).toEqual([[4, [4]]]);
    store.deleteOutboxThrough(4);
    await store.close(); // deletes what was confirmed
    expect(await records()).toEqual([]);
    const reopened = IndexerStore.open(path, params);
    expect(reopened.outboxDepth()).toBe(0);
    expect(reopened.outboxBatch(10)).toEqual([]);
    await reopened.close();
  });

  it("is read from another thread by an OutboxReader: each commit's events from a sequence on, the rest of a record confirmed in part", async () => {
    const store = open();
    const [a, b, c, d] = [stake(), stake(), stake(), stake()];
    store.commitBlocks(
      [
        { height: 100, hash: 'h100', time: 1, txs: [a.tx] },
        { height: 101, hash: 'h101', time: 2, txs: [b.tx, buildUnbonding(a, covenants).tx] },
      ],
      decide,
    );
    const thread = startTsWorker(new URL('./testkit/outboxReaderThread.ts', import.meta.url), {
      workerData: store.path,
    });
    const read = (first: number, limit: number) =>
      new Promise<number[]>((resolve, reject) => {
        thread.once('message', resolve);
        thread.once('error', reject);
        thread.postMessage([first, limit]);
      });
    try {
      expect(await read(1, 10)).toEqual([1, 2, 3]);
      expect(await read(3, 10)).toEqual([3]);
      expect(await read(2, 1)).toEqual([2]);
      store.commitBlocks([{ height: 102, hash: 'h102', time: 3, txs: [c.tx] }], decide);
      expect(await read(3, 10)).toEqual([3, 4]);
      // Confirmed through 2: the next write keeps the rest of block 101's record under 3.
      store.deleteOutboxThrough(2);
      store.commitBlocks([{ height: 103, hash: 'h103', time: 4, txs: [d.tx] }], decide);
      expect(await read(3, 10)).toEqual([3, 4, 5]);
      expect(await read(4, 1)).toEqual([4]);
      expect(await read(6, 10)).toEqual([]);
      // The reader closing its handle leaves the store's own (one environment a process) open.
      const closed = new Promise((resolve) => thread.once('message', resolve));
      thread.postMessage('close');
      expect(await closed).toBe('closed');
      store.commitBlocks([{ height: 104, hash: 'h104', time: 5, txs: [stake().tx] }], decide);
      expect(store.outboxBatch(10).map((e) => e.sequence)).toEqual([3, 4, 5, 6, 7]);
      expect(store.last()).toEqual({ height: 104, hash: 'h104' });
    } finally {
      await thread.terminate();
      await store.close();
    }
  });

  it('reads and deletes an outbox of one event a record, as a store written before holds it', async () => {
    const store = open();
    const [a, b] = [stake(), stake()];
    store.commitBlocks([{ height: 100, hash: 'h100', time: 1, txs: [a.tx, b.tx] }], decide);
    const events = store.outboxBatch(10);
    const path = store.path;
    await store.close();
    const env = lmdbOpen({ path, maxDbs: 10, compression: false });
    const db = env.openDB({ name: 'outbox', sharedStructuresKey: Symbol.for('structures') });
    env.transactionSync(() => {
      db.removeSync(1);
      for (const e of events) db.putSync(e.sequence, e);
    });
    await env.close();
    const reopened = IndexerStore.open(path, params);
    expect(reopened.outboxBatch(10)).toEqual(events);
    expect(reopened.outboxDepth()).toBe(2);
    reopened.deleteOutboxThrough(1);
    expect(reopened.outboxBatch(10)).toEqual(events.slice(1));
    reopened.deleteOutboxThrough(2);
    expect(reopened.outboxDepth()).toBe(0);
    await reopened.close();
    const again = IndexerStore.open(path, params);
    expect(again.outboxBatch(10)).toEqual([]);
    await again.close();
  });

  it('a batch that throws leaves nothing behind (one transaction)', async () => {
    const store = open();
    const a = stake();
    expect(() =>
      store.commitBlocks(
        [
          { height: 100, hash: 'h100', time: 1, txs: [a.tx] },
          { height: 101, hash: 'h101', time: 1, txs: [] },
        ],
        (blk, st) => {
          if (blk.height === 101) throw new Error('boom');
          return decide(blk, st);
        },
      ),
    ).toThrow('boom');
    expect(store.last()).toBeUndefined();
    expect(store.outboxDepth()).toBe(0);
    expect(store.delegation(a.txid)).toBeUndefined();
    expect(store.mayTrack(0)).toBe(false);
    await store.close();
  });

  it("a batch that throws takes back the prefilter's prefixes it added, and only those", async () => {
    const store = open();
    const [a, b] = [stake(), stake()];
    store.commitBlocks([{ height: 100, hash: 'h100', time: 1, txs: [a.tx] }], decide);
    expect(store.mayTrack(txidPrefix(a.txid))).toBe(true);
    expect(() =>
      store.commitBlocks(
        [
          { height: 101, hash: 'h101', time: 1, txs: [b.tx] },
          { height: 102, hash: 'h102', time: 1, txs: [] },
        ],
        (blk, st) => {
          if (blk.height === 102) throw new Error('boom');
          return decide(blk, st);
        },
      ),
    ).toThrow('boom');
    expect(store.mayTrack(txidPrefix(a.txid))).toBe(true);
    expect(store.mayTrack(txidPrefix(b.txid))).toBe(false);
    store.commitBlocks([{ height: 101, hash: 'h101', time: 1, txs: [b.tx] }], decide);
    expect(store.mayTrack(txidPrefix(b.txid))).toBe(true);
    await store.close();
  });

  it('an expiry removed by a batch that throws still fires when the block is committed again', async () => {
    const store = open();
    const a = stake(5);
    store.commitBlocks([{ height: 100, hash: 'h100', time: 1, txs: [a.tx] }], decide);
    const at105 = [
      { height: 105, hash: 'h105', time: 1, txs: [] },
      { height: 106, hash: 'h106', time: 1, txs: [] },
    ];
    expect(() =>
      store.commitBlocks(at105, (blk, st) => {
        if (blk.height === 106) throw new Error('boom');
        return decide(blk, st);
      }),
    ).toThrow('boom');
    expect(store.expiriesAt(105)).toEqual([{ height: 105, stakingTxid: a.txid, type: 'active' }]);
    const events = store.commitBlocks(at105, decide).flatMap((r) => r.events);
    expect(events.map((e) => e.event_id)).toEqual([`${a.txid}:expired:active`]);
    expect(store.expiriesAt(105)).toEqual([]);
    await store.close();
  });

  it('a batch that throws after writing new shapes of records, then the same batch, reads back after reopening', async () => {
    // Shared msgpack structures are recorded in the transaction that first uses a shape: an
    // aborted one must leave none behind that later records depend on.
    const store = open();
    const a = stake(5);
    const blocks = [
      { height: 100, hash: 'h100', time: 1, txs: [a.tx] },
      { height: 101, hash: 'h101', time: 1, txs: [buildUnbonding(a, covenants).tx] },
    ];
    expect(() =>
      store.commitBlocks(blocks, (blk, st) => {
        if (blk.height === 101) throw new Error('boom');
        return decide(blk, st);
      }),
    ).toThrow('boom');
    const events = store.commitBlocks(blocks, decide).flatMap((r) => r.events);
    const before = { d: store.delegation(a.txid), out: store.outboxBatch(10), exp: store.expiriesAt(104) };
    expect(before.d?.state).toBe('unbonding');
    const path = store.path;
    await store.close();
    const reopened = IndexerStore.open(path, params);
    expect({
      d: reopened.delegation(a.txid),
      out: reopened.outboxBatch(10),
      exp: reopened.expiriesAt(104),
    }).toEqual(before);
    expect(reopened.outboxBatch(10).map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    reopened.rollbackTo(100);
    expect(reopened.delegation(a.txid)?.state).toBe('active');
    await reopened.close();
  });

  it('a batch that throws after its records introduced shapes, retried with only those shapes, reads back after reopening', async () => {
    // The retry adds no shape of its own, so nothing makes it save the structures its records use:
    // they must come from the store, not from the aborted transaction's memory.
    const store = open();
    const a = stake(5);
    const block = { height: 100, hash: 'h100', time: 1, txs: [a.tx] };
    expect(() =>
      store.commitBlocks([block, { height: 101, hash: 'h101', time: 1, txs: [] }], (blk, st) => {
        if (blk.height === 101) throw new Error('boom');
        return decide(blk, st);
      }),
    ).toThrow('boom');
    store.commitBlocks([block], decide);
    const before = { d: store.delegation(a.txid), out: store.outboxBatch(10), last: store.last() };
    expect(before.d?.state).toBe('active');
    const path = store.path;
    await store.close();
    const reopened = IndexerStore.open(path, params);
    expect({ d: reopened.delegation(a.txid), out: reopened.outboxBatch(10), last: reopened.last() }).toEqual(
      before,
    );
    await reopened.close();
  });

  it('reads and rolls back a store whose records were written without shared structures', async () => {
    const d = mkdtempSync(join(tmpdir(), 'indexer-store-'));
    dirs.push(d);
    const a = stake(5);
    const store = IndexerStore.open(d, params);
    store.commitBlocks([{ height: 100, hash: 'h100', time: 1, txs: [a.tx] }], decide);
    const active = store.delegation(a.txid);
    store.commitBlocks(
      [{ height: 101, hash: 'h101', time: 1, txs: [buildUnbonding(a, covenants).tx] }],
      decide,
    );
    const snapshot = { d: store.delegation(a.txid), out: store.outboxBatch(10), last: store.last() };
    await store.close();
    // Rewrite every record as the store wrote them before it shared structures: each msgpack
    // record carrying its own definition (msgpackr's extension d4 72).
    const env = lmdbOpen({ path: d, maxDbs: 10, compression: false });
    for (const name of ['delegations', 'undo', 'outbox'] as const) {
      const shared = env.openDB({ name, sharedStructuresKey: Symbol.for('structures') });
      const entries = [...shared.getRange()].filter(({ key }) => typeof key !== 'symbol');
      env.transactionSync(() => shared.clearSync());
      const own = env.openDB({ name }); // as the store opened it then
      env.transactionSync(() => {
        for (const { key, value } of entries) own.putSync(key, value);
      });
      const last = own.getBinary(entries.at(-1)!.key)!;
      expect(Buffer.from(last).includes(Buffer.of(0xd4, 0x72)), name).toBe(true);
    }
    await env.close();
    const reopened = IndexerStore.open(d, params);
    expect({ d: reopened.delegation(a.txid), out: reopened.outboxBatch(10), last: reopened.last() }).toEqual(
      snapshot,
    );
    expect(snapshot.d?.state).toBe('unbonding');
    reopened.rollbackTo(100); // the undo record of block 101 holds the active delegation
    expect(active?.state).toBe('active');
    expect(reopened.delegation(a.txid)).toEqual(active);
    reopened.rollbackTo(99);
    expect(reopened.delegation(a.txid)).toBeUndefined();
    await reopened.close();
  });

  it('rollbackTo restores exactly the state after that block, and re-processing gives the same events', async () => {
    const store = open();
    const a = stake(5);
    const b = stake(7);
    const blocks = [
      { height: 100, hash: 'h100', time: 1, txs: [a.tx] },
      { height: 101, hash: 'h101', time: 1, txs: [b.tx, buildUnbonding(b, covenants).tx] },
      { height: 105, hash: 'h105', time: 1, txs: [buildWithdrawFromStaking(a)] },
    ];
    for (const blk of blocks.slice(0, 1)) store.commitBlocks([blk], decide);
    const snapshot = { tvl: store.confirmedTvl(), a: store.delegation(a.txid), exp: store.expiriesAt(105) };
    const first = store.commitBlocks(blocks.slice(1), decide).flatMap((r) => r.events);
    expect(store.delegation(a.txid)?.state).toBe('withdrawn');

    store.rollbackTo(100);
    expect(store.last()).toEqual({ height: 100, hash: 'h100' });
    expect({ tvl: store.confirmedTvl(), a: store.delegation(a.txid), exp: store.expiriesAt(105) }).toEqual(
      snapshot,
    );
    expect(store.delegation(b.txid)).toBeUndefined();
    const again = store.commitBlocks(blocks.slice(1), decide).flatMap((r) => r.events);
    expect(again).toEqual(first);

    store.rollbackTo(99);
    expect(store.last()).toBeUndefined();
    expect(store.confirmedTvl()).toBe(0);
    expect(() => store.rollbackTo(50)).not.toThrow(); // nothing left to roll back
    await store.close();
  });

  it('refuses params that change an existing version, accepts an appended one', async () => {
    const d = mkdtempSync(join(tmpdir(), 'indexer-store-'));
    dirs.push(d);
    await IndexerStore.open(d, params).close();
    const appended = parseGlobalParams({
      versions: [doc.versions[0], { ...doc.versions[0], version: 1, activation_height: 200 }],
    });
    await IndexerStore.open(d, appended).close();
    const changed = parseGlobalParams(
      testParamsDoc(covenants, { activation_height: 100, min_staking_time: 6 }),
    );
    expect(() => IndexerStore.open(d, changed)).toThrow(
      expect.objectContaining({ code: 'INDEXER_PARAMS_CHANGED' }),
    );
  });
});
