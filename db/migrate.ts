import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodedError } from '../common/index.ts';
import type { Database } from './database.ts';
import type { DbErrorCode } from './errors.ts';

/** The folder of this code's migrations: `NNNN_name.sql`, applied in version order. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * Key of the session advisory lock every instance takes before migrating, so instances starting at
 * once apply each migration exactly once and the others wait, then find nothing to do.
 */
export const MIGRATION_LOCK_KEY = 0x5354_4b41_5049_0001n; // "STKAPI" 1

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrationResult {
  /** Versions applied by this call (empty when the database was already current). */
  readonly applied: readonly number[];
  /** The database's version afterwards. */
  readonly version: number;
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads the migration files of a folder, in version order; versions must be 1, 2, 3, … */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return files.map((f, i) => {
    const m = FILE_RE.exec(f);
    if (!m || Number(m[1]) !== i + 1) {
      throw new CodedError<DbErrorCode>(
        'DB_MIGRATION_FAILED',
        `migration file ${f} must be named ${String(i + 1).padStart(4, '0')}_<name>.sql`,
      );
    }
    const sql = readFileSync(join(dir, f), 'utf8');
    return {
      version: i + 1,
      name: m[2]!,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    };
  });
}

/**
 * Brings the database to the latest migration. Takes a session advisory lock first, so several
 * instances may call it at once: one applies, the others wait and then find every version
 * recorded. Each file runs in its own transaction together with its row in `schema_migrations`
 * (version, name, sha256, time), so a failed file leaves no trace and is retried at the next start.
 * An applied migration whose file changed, or a version this code does not know, stops start-up.
 * @throws {CodedError} DB_UNREACHABLE, DB_MIGRATION_FAILED, DB_MIGRATION_MODIFIED, DB_MIGRATION_UNKNOWN
 */
export async function migrate(
  db: Database,
  opts: { migrations?: readonly Migration[]; lockTimeoutMs?: number } = {},
): Promise<MigrationResult> {
  const migrations = opts.migrations ?? readMigrations();
  const { client, release } = await db.checkout();
  let broken: Error | undefined;
  try {
    // Waiting for another instance's migrations may take longer than an ordinary statement.
    await client.query(`SET statement_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 300_000))}`);
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
        'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
      );
      const known = new Map(migrations.map((m) => [m.version, m]));
      for (const r of rows) {
        const m = known.get(r.version);
        if (!m) {
          throw new CodedError<DbErrorCode>(
            'DB_MIGRATION_UNKNOWN',
            `the database has migration ${r.version} (${r.name}), which this code does not know: it was migrated by a newer version`,
          );
        }
        if (m.checksum !== r.checksum) {
          throw new CodedError<DbErrorCode>(
            'DB_MIGRATION_MODIFIED',
            `migration ${r.version} (${r.name}) was applied from a different file than the one shipped (sha256 ${r.checksum.slice(0, 12)}… vs ${m.checksum.slice(0, 12)}…)`,
          );
        }
      }
      const done = new Set(rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        try {
          await client.query('BEGIN');
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            m.checksum,
          ]);
          await client.query('COMMIT');
        } catch (cause) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new CodedError<DbErrorCode>(
            'DB_MIGRATION_FAILED',
            `migration ${m.version} (${m.name}) failed: ${(cause as Error).message}`,
            { cause },
          );
        }
        applied.push(m.version);
      }
      return { applied, version: migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version };
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()])
        .catch((e: Error) => {
          broken = e;
        });
      await client.query('RESET statement_timeout').catch((e: Error) => {
        broken = e;
      });
    }
  } catch (e) {
    if (e instanceof CodedError) throw e;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (/^(08|28|3D|57)/.test(code) || code.startsWith('E')))
      throw db.unreachable(e);
    throw new CodedError<DbErrorCode>('DB_MIGRATION_FAILED', `migrating failed: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    release(broken);
  }
}
