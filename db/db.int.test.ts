import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from './database.ts';
import { insertDelegation } from './delegations.ts';
import { DB_ERRORS } from './errors.ts';
import { migrate, readMigrations } from './migrate.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch.ts';
import { countActivated, countUnbonded, readOverallStats } from './stats.ts';
import {
  claimUnbondingRequests,
  getUnbondingRequest,
  insertUnbondingRequest,
  recordUnbondingAttempt,
} from './unbonding.ts';

/** db/ against a real PostgreSQL: one scratch database for this file, dropped afterwards. */
let scratch: ScratchDatabase;
let db: Database;

beforeAll(async () => {
  scratch = await createScratchDatabase('db_test');
  db = Database.open({ url: scratch.url });
});
afterAll(async () => {
  await db?.close();
  await scratch?.drop();
});

const hex = (n: number, bytes = 32) => n.toString(16).padStart(bytes * 2, '0');

describe('migrations', () => {
  it('applies every migration exactly once when several instances start at once', async () => {
    const instances = Array.from({ length: 4 }, () => Database.open({ url: scratch.url, poolSize: 2 }));
    try {
      const results = await Promise.all(instances.map((d) => migrate(d)));
      const applied = results.flatMap((r) => r.applied);
      expect(applied).toEqual(readMigrations().map((m) => m.version));
      expect(results.every((r) => r.version === readMigrations().length)).toBe(true);
      const { rows } = await db.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(readMigrations().map((m) => m.version));
    } finally {
      await Promise.all(instances.map((d) => d.close()));
    }
  });

  it('is a no-op on a current database', async () => {
    expect((await migrate(db)).applied).toEqual([]);
  });

  it('refuses to start when an applied migration file was modified', async () => {
    const ms = readMigrations().map((m) => (m.version === 1 ? { ...m, checksum: 'f'.repeat(64) } : m));
    await expect(migrate(db, { migrations: ms })).rejects.toMatchObject({ code: 'DB_MIGRATION_MODIFIED' });
  });

  it('refuses to start on a database migrated by newer code', async () => {
    await expect(migrate(db, { migrations: [] })).rejects.toMatchObject({ code: 'DB_MIGRATION_UNKNOWN' });
  });

  it('rolls a failing migration back entirely and names it', async () => {
    const ms = [
      ...readMigrations(),
      {
        version: readMigrations().length + 1,
        name: 'broken',
        sql: 'CREATE TABLE t_ok (x int); SELEC 1;',
        checksum: 'x',
      },
    ];
    await expect(migrate(db, { migrations: ms })).rejects.toMatchObject({ code: 'DB_MIGRATION_FAILED' });
    const { rows } = await db.query("SELECT to_regclass('t_ok') AS t");
    expect(rows[0]?.t).toBeNull();
  });
});

describe('connection', () => {
  it('names host and reason, never the password, when the server is unreachable', async () => {
    const bad = Database.open({ url: 'postgres://u:s3cret@127.0.0.1:1/x', connectTimeoutMs: 1000 });
    const err = await bad.ping().catch((e) => e);
    await bad.close();
    expect(err.code).toBe('DB_UNREACHABLE');
    expect(err.message).toContain('127.0.0.1:1');
    expect(err.message).toContain('connection refused');
    expect(err.message).not.toContain('s3cret');
  });

  it('says so when the database does not exist', async () => {
    const u = new URL(scratch.url);
    u.pathname = '/no_such_db_here';
    const bad = Database.open({ url: u.toString() });
    const err = await bad.ping().catch((e) => e);
    await bad.close();
    expect(err.code).toBe('DB_UNREACHABLE');
    expect(err.message).toMatch(/does not exist/);
  });

  it('loses a connection in the middle of a transaction without ending the process', async () => {
    const admin = new pg.Client({
      connectionString: process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    });
    await admin.connect();
    try {
      const run = db.transaction(async (c) => {
        const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        // The reset arrives while no statement runs: an 'error' event on the checked-out client.
        await new Promise((r) => setTimeout(r, 300));
        await c.query('SELECT 1');
      });
      await expect(run).rejects.toMatchObject({ code: 'DB_UNREACHABLE' });
      const { rows } = await db.pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]!.one).toBe(1);
    } finally {
      await admin.end();
    }
  });

  it('refuses a URL that is not postgres://', () => {
    expect(() => Database.open({ url: 'mysql://x/y' })).toThrow(
      expect.objectContaining({ code: 'DB_INVALID_URL' }),
    );
  });

  it('has every error code documented', () => {
    expect(Object.keys(DB_ERRORS).every((c) => c.startsWith('DB_'))).toBe(true);
  });
});

describe('statistics under concurrency', () => {
  it('loses no update with 200 concurrent transactions on the same staker and provider', async () => {
    const s = { stakerPkHex: hex(1), finalityProviderPkHex: hex(2), stakingValue: 1000 };
    const before = await readOverallStats(db);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        db.transaction(async (c) => {
          await countActivated(c, s, i);
          if (i % 2 === 0) await countUnbonded(c, s, i + 7);
        }),
      ),
    );
    const after = await readOverallStats(db);
    expect(after.totalTvl - before.totalTvl).toBe(200_000);
    expect(after.activeTvl - before.activeTvl).toBe(100_000);
    expect(after.activeDelegations - before.activeDelegations).toBe(100);
    expect(after.totalStakers - before.totalStakers).toBe(1);
    const { rows } = await db.query('SELECT * FROM staker_stats WHERE staker_pk_hex = $1', [s.stakerPkHex]);
    expect(rows[0]).toMatchObject({ active_tvl: '100000', total_tvl: '200000', total_delegations: '200' });
  });
});

describe('unbonding requests for the pipeline', () => {
  const N = 12;
  beforeAll(async () => {
    for (let i = 0; i < N; i++) {
      await insertDelegation(db, {
        stakingTxid: hex(1000 + i),
        stakerPkHex: hex(3),
        finalityProviderPkHex: hex(4),
        stakingValue: 50_000,
        isOverflow: false,
        stakingTxHex: '00',
        stakingOutputIndex: 0,
        stakingStartHeight: 100 + i,
        stakingStartTimestamp: 1_700_000_000,
        stakingTimelock: 1000,
      });
      const inserted = await insertUnbondingRequest(db, {
        stakingTxid: hex(1000 + i),
        unbondingTxHashHex: hex(2000 + i),
        unbondingTxHex: '00',
        stakerSignatureHex: 'ab'.repeat(64),
        stakerPkHex: hex(3),
        finalityProviderPkHex: hex(4),
        stakingTxHex: '00',
        stakingOutputIndex: 0,
        stakingValue: 50_000,
        stakingTimelock: 1000,
        stakingStartHeight: 100 + i,
        paramsVersion: 0,
      });
      expect(inserted).toBe(true);
    }
  });

  it('refuses a second request for the same delegation', async () => {
    const again = await insertUnbondingRequest(db, {
      stakingTxid: hex(1000),
      unbondingTxHashHex: hex(2999),
      unbondingTxHex: '00',
      stakerSignatureHex: 'ab'.repeat(64),
      stakerPkHex: hex(3),
      finalityProviderPkHex: hex(4),
      stakingTxHex: '00',
      stakingOutputIndex: 0,
      stakingValue: 50_000,
      stakingTimelock: 1000,
      stakingStartHeight: 100,
      paramsVersion: 0,
    });
    expect(again).toBe(false);
  });

  it('lets concurrent workers claim disjoint requests without waiting (SKIP LOCKED)', async () => {
    const claims = await Promise.all(
      ['w1', 'w2', 'w3', 'w4'].map((worker) =>
        db.transaction((c) => claimUnbondingRequests(c, { worker, limit: 5, leaseMs: 60_000 })),
      ),
    );
    const ids = claims.flat().map((r) => r.id);
    expect(ids.length).toBe(N);
    expect(new Set(ids).size).toBe(N);
    expect(claims.flat().every((r) => r.attempts === 1)).toBe(true);
    // Nothing is due while leases run.
    expect(await claimUnbondingRequests(db, { worker: 'w5', limit: 100, leaseMs: 1000 })).toEqual([]);
    // The lease holder records outcomes; another worker cannot. (Which workers got rows depends on
    // the order the four transactions reached PostgreSQL: one of them may have found none left.)
    const first = claims.flat()[0]!;
    expect(await recordUnbondingAttempt(db, { id: first.id, worker: 'w9', state: 'sent' })).toBe(false);
    expect(
      await recordUnbondingAttempt(db, {
        id: first.id,
        worker: first.claimedBy!,
        state: 'no_quorum',
        signerResults: [
          { covenant_pk_hex: hex(9), signature_hex: null, error: 'timeout', at: new Date().toISOString() },
        ],
        error: '1 of 2 signatures',
        retryAfterMs: 0,
      }),
    ).toBe(true);
    const again = await claimUnbondingRequests(db, { worker: 'w5', limit: 100, leaseMs: 1000 });
    expect(again.map((r) => r.id)).toEqual([first.id]);
    expect(again[0]!.attempts).toBe(2);
    expect(await recordUnbondingAttempt(db, { id: first.id, worker: 'w5', state: 'sent' })).toBe(true);
    const done = await getUnbondingRequest(db, first.stakingTxid);
    expect(done?.state).toBe('sent');
    expect(done?.sentAt).toBeInstanceOf(Date);
    expect(done?.signerResults[0]?.error).toBe('timeout');
  });

  it('makes a request whose worker died due again when its lease ends', async () => {
    await db.query(
      `UPDATE unbonding_requests SET claimed_until = now() - interval '1 second' WHERE state = 'pending'`,
    );
    const reclaimed = await claimUnbondingRequests(db, { worker: 'w6', limit: 100, leaseMs: 1000 });
    expect(reclaimed.length).toBe(N - 1);
  });
});
