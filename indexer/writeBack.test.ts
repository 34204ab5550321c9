import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Database, type Key, open, type RootDatabase } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteBack } from './writeBack.ts';

/** The write-back of a commit batch against a real LMDB file, counting what reaches LMDB. */
const envs: Array<{ env: RootDatabase; dir: string }> = [];
afterEach(async () => {
  for (const { env, dir } of envs.splice(0)) {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'writeback-'));
  const env = open({ path: dir, maxDbs: 4, compression: false });
  envs.push({ env, dir });
  const db = env.openDB<unknown, Key>({ name: 'd' });
  const calls: string[] = [];
  const counted = {
    get: (k: Key) => {
      calls.push(`get ${String(k)}`);
      return db.get(k);
    },
    putSync: (k: Key, v: unknown) => {
      calls.push(`put ${String(k)}`);
      return db.putSync(k, v);
    },
    removeSync: (k: Key) => {
      calls.push(`remove ${String(k)}`);
      return db.removeSync(k);
    },
  } as unknown as Database<unknown, Key>;
  return { env, db, calls, wb: new WriteBack<'d'>(() => counted) };
}

describe('WriteBack', () => {
  it('reads each key from LMDB once, serves the batch’s own writes, and writes each changed key once', () => {
    const { env, db, calls, wb } = setup();
    db.putSync('kept', { v: 0 });
    db.putSync('changed', { v: 0 });
    db.putSync('gone', { v: 0 });
    env.transactionSync(() => {
      expect(wb.get('d', 'kept')).toEqual({ v: 0 });
      expect(wb.get('d', 'kept')).toEqual({ v: 0 });
      wb.set('d', 'changed', { v: 1 });
      wb.set('d', 'changed', { v: 2 });
      expect(wb.get('d', 'changed')).toEqual({ v: 2 });
      wb.set('d', 'gone', undefined);
      expect(wb.get('d', 'gone')).toBeUndefined();
      expect(wb.get('d', 'new')).toBeUndefined();
      wb.set('d', 'new', { v: 3 });
      wb.set('d', 'fleeting', { v: 4 });
      wb.set('d', 'fleeting', undefined);
      expect(db.get('changed')).toEqual({ v: 0 }); // nothing written before the flush
      wb.flush();
    });
    expect(calls.filter((c) => c.startsWith('get')).sort()).toEqual(
      ['get changed', 'get fleeting', 'get gone', 'get kept', 'get new'].sort(),
    );
    expect(calls.filter((c) => !c.startsWith('get')).sort()).toEqual(
      ['put changed', 'put new', 'remove gone'].sort(),
    );
    expect([...db.getRange()].map(({ key, value }) => [key, value])).toEqual([
      ['changed', { v: 2 }],
      ['kept', { v: 0 }],
      ['new', { v: 3 }],
    ]);
  });

  it('keeps array keys apart from strings that print alike, and forgets everything after a flush', () => {
    const { env, db, calls, wb } = setup();
    env.transactionSync(() => {
      wb.set('d', [7, 'a', 'b'], true);
      wb.set('d', '7,a,b', 'str');
      expect(wb.get('d', [7, 'a', 'b'])).toBe(true);
      expect(wb.get('d', '7,a,b')).toBe('str');
      wb.flush();
    });
    expect(db.get([7, 'a', 'b'])).toBe(true);
    expect(db.get('7,a,b')).toBe('str');
    const before = calls.length;
    expect(wb.get('d', '7,a,b')).toBe('str');
    expect(calls.slice(before)).toEqual(['get 7,a,b']); // read from LMDB again
  });

  it('takes the LMDB value of a key from the caller when given (no read), and writes by it', () => {
    const { env, db, calls, wb } = setup();
    db.putSync('same', 1);
    env.transactionSync(() => {
      expect(wb.swap('d', 'fresh', { v: 1 }, undefined)).toBeUndefined();
      // A known value kept as it was is not written again; a changed one is.
      expect(wb.swap('d', 'same', 1, 1)).toBe(1);
      expect(wb.swap('d', 'other', 2, undefined)).toBeUndefined();
      // Once the batch holds a key, its own value answers, whatever base is passed.
      expect(wb.swap('d', 'fresh', { v: 2 }, undefined)).toEqual({ v: 1 });
      wb.flush();
    });
    expect(calls.filter((c) => c.startsWith('get'))).toEqual([]);
    expect(calls.sort()).toEqual(['put fresh', 'put other']);
    expect(db.get('fresh')).toEqual({ v: 2 });
    expect(db.get('same')).toBe(1);
  });
});
