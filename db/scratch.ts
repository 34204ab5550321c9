import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A throw-away database on a server (tests, benchmarks). */
export interface ScratchDatabase {
  readonly name: string;
  /** URL of the new database. */
  readonly url: string;
  /** Drops it, closing any connection left to it. Idempotent. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database named `<prefix>_<random>` through a maintenance connection
 * (`adminUrl`, default `PG_ADMIN_URL` or the local server's `test` database as `postgres`).
 * Tests create one per file and drop it afterwards, so files run in parallel without sharing.
 */
export async function createScratchDatabase(
  prefix = 'api_test',
  adminUrl = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
): Promise<ScratchDatabase> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`bad scratch database prefix ${prefix}`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: u.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
