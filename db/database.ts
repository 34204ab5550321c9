import pg from 'pg';
import { CodedError } from '../common/index.ts';
import { redactUrlPassword } from '../runtime/index.ts';
import type { DbErrorCode } from './errors.ts';

/** Anything that runs a query: the Database, its pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface DatabaseOptions {
  /** `postgres://user[:password]@host:port/database`; default the local server's `staking_api`. */
  readonly url?: string;
  /** Overrides the URL's password (read from a secret file by the caller); undefined: the URL's. */
  readonly password?: string | undefined;
  /** Pool size (default 10). */
  readonly poolSize?: number;
  /** How long to wait for a connection, new or from the pool, milliseconds (default 5000). */
  readonly connectTimeoutMs?: number;
  /** Server-side statement timeout, milliseconds (default 10000). */
  readonly statementTimeoutMs?: number;
  /** Server-side lock wait timeout, milliseconds (default 5000). */
  readonly lockTimeoutMs?: number;
  /**
   * Client-side bound on one query's answer, milliseconds (default none). The server-side timeouts
   * cannot fire when the path to the server is silent; this one can (the connection is then
   * discarded). Keep it above statementTimeoutMs so the server's own cancel normally wins.
   */
  readonly queryTimeoutMs?: number;
  /** Idle pooled connections are closed after this, milliseconds (default 30000). */
  readonly idleTimeoutMs?: number;
  readonly applicationName?: string;
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/staking_api';

function parseDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new CodedError<DbErrorCode>('DB_INVALID_URL', 'the database URL is not a valid URL', { cause });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new CodedError<DbErrorCode>(
      'DB_INVALID_URL',
      `the database URL must start with postgres:// or postgresql://, not ${u.protocol}//`,
    );
  }
  if (u.pathname.length <= 1) {
    throw new CodedError<DbErrorCode>('DB_INVALID_URL', 'the database URL names no database (…/dbname)');
  }
  return u;
}

/** SQLSTATE classes and errnos that mean "try again later", not "this event is wrong". */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);
const TRANSIENT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Whether an error is the database being unavailable or busy (connection lost, server restarting,
 * deadlock, serialization failure, timeouts), as opposed to a query or a constraint refusing data.
 */
export function isTransientDbError(e: unknown): boolean {
  if (e instanceof CodedError) return e.code === 'DB_UNREACHABLE';
  const err = e as { code?: unknown; message?: unknown } | null;
  if (!err) return false;
  if (typeof err.code === 'string' && (TRANSIENT_SQLSTATES.has(err.code) || TRANSIENT_ERRNOS.has(err.code)))
    return true;
  const msg = typeof err.message === 'string' ? err.message : '';
  // 'Query read timeout': pg's client-side query_timeout, the server not answering at all.
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Query read timeout/i.test(
    msg,
  );
}

/**
 * A pool of connections to one PostgreSQL database, with timeouts on every connection and a clear
 * coded error when the server cannot be reached.
 */
export class Database {
  readonly pool: pg.Pool;
  /** The URL without password. */
  readonly displayUrl: string;
  readonly #host: string;
  readonly #dbName: string;
  #closed = false;

  private constructor(pool: pg.Pool, displayUrl: string, u: URL) {
    this.pool = pool;
    this.displayUrl = displayUrl;
    this.#host = u.host;
    this.#dbName = decodeURIComponent(u.pathname.slice(1));
    // An idle client losing its connection emits 'error' on the pool; without a listener it would
    // crash the process. The next query gets a fresh connection.
    pool.on('error', () => undefined);
  }

  /**
   * Creates the pool (no connection is made until the first query; call `ping` to fail early).
   * @throws {CodedError} DB_INVALID_URL
   */
  static open(opts: DatabaseOptions = {}): Database {
    const url = opts.url ?? DEFAULT_DATABASE_URL;
    const u = parseDatabaseUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
      statement_timeout: opts.statementTimeoutMs ?? 10_000,
      lock_timeout: opts.lockTimeoutMs ?? 5_000,
      ...(opts.queryTimeoutMs !== undefined ? { query_timeout: opts.queryTimeoutMs } : {}),
      // A client that opened a transaction and went away must not hold row locks for ever.
      idle_in_transaction_session_timeout: 60_000,
      application_name: opts.applicationName ?? 'staking-api',
      keepAlive: true,
    });
    return new Database(pool, redactUrlPassword(url, 'database'), u);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Wraps a connection failure into DB_UNREACHABLE naming the host and the reason, never the password. */
  unreachable(cause: unknown): CodedError<DbErrorCode> {
    const c = cause as { code?: unknown; message?: unknown };
    const code = typeof c?.code === 'string' ? c.code : undefined;
    const known = code ? CONNECT_REASONS[code] : undefined;
    const why = known ?? code ?? (typeof c?.message === 'string' ? c.message : 'unknown error');
    return new CodedError<DbErrorCode>(
      'DB_UNREACHABLE',
      `cannot use the database ${this.#dbName} at ${this.#host}: ${why.replace(/password\S*/gi, 'password …')}`,
      { cause, details: { host: this.#host, ...(code ? { errno: code } : {}) } },
    );
  }

  /**
   * One round trip; resolves with the server's answer time in milliseconds.
   * @throws {CodedError} DB_UNREACHABLE
   */
  async ping(): Promise<number> {
    const t0 = performance.now();
    try {
      await this.pool.query('SELECT 1');
    } catch (e) {
      throw this.unreachable(e);
    }
    return performance.now() - t0;
  }

  /** Runs a query on the pool. Connection failures become DB_UNREACHABLE. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return typeof text === 'string'
        ? await this.pool.query<R>(text, values)
        : await this.pool.query<R>(text as pg.QueryConfig<unknown[]>);
    } catch (e) {
      throw isConnectError(e) ? this.unreachable(e) : e;
    }
  }

  /**
   * Runs `fn` in one transaction (READ COMMITTED) and commits, or rolls back and rethrows. A
   * deadlock or serialization failure retries the whole function up to `retries` times (default 3),
   * so `fn` must only touch the database.
   * @throws {CodedError} DB_UNREACHABLE when no connection can be had; otherwise what `fn` throws
   */
  async transaction<T>(
    fn: (client: pg.PoolClient) => Promise<T>,
    opts: { retries?: number } = {},
  ): Promise<T> {
    const retries = opts.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const { client, lost, release } = await this.checkout();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: unknown) => {
          broken = re;
        });
        const code = (e as { code?: unknown }).code;
        if ((code === '40001' || code === '40P01') && attempt < retries) continue;
        const gone = lost();
        throw isConnectError(e) ? this.unreachable(e) : gone ? this.unreachable(gone) : e;
      } finally {
        // A client whose rollback failed is broken: destroy it rather than return it to the pool.
        release(broken instanceof Error ? broken : undefined);
      }
    }
  }

  /**
   * A pool client for several statements. While it is checked out it has an 'error' listener of its
   * own: a connection lost between two statements (a database restart, a terminated backend) is
   * otherwise an 'error' event nobody listens to, which ends the process. `lost()` tells whether
   * that happened; `release` destroys the client when it did or when `broken` is given.
   * @throws {CodedError} DB_UNREACHABLE
   */
  async checkout(): Promise<{
    client: pg.PoolClient;
    lost: () => Error | undefined;
    release: (broken?: Error) => void;
  }> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.unreachable(e);
    }
    let lostWith: Error | undefined;
    const onError = (e: Error) => {
      lostWith = e;
    };
    client.on('error', onError);
    return {
      client,
      lost: () => lostWith,
      release: (broken) => {
        client.removeListener('error', onError);
        client.release(broken ?? lostWith);
      },
    };
  }

  /** Closes every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end().catch(() => undefined);
  }
}

const CONNECT_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is PostgreSQL running there?)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  '3D000': 'the database does not exist (create it first)',
  '28P01': 'password authentication failed',
  '28000': 'the server refused this user (pg_hba.conf)',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'too many connections',
  '55000': 'the database does not accept connections now',
};

function isConnectError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (
    typeof code === 'string' &&
    (TRANSIENT_ERRNOS.has(code) || code.startsWith('08') || code === '57P03' || code in CONNECT_REASONS)
  )
    return true;
  const msg = (e as { message?: unknown })?.message;
  return (
    typeof msg === 'string' &&
    /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|not queryable/i.test(
      msg,
    )
  );
}

/**
 * A stored bigint (pg returns int8 and numeric as strings) as a JS number, refusing one that would
 * lose precision.
 * @throws {CodedError} DB_UNSAFE_INTEGER
 */
export function safeInt(v: unknown, what = 'value'): number {
  const n = typeof v === 'number' ? v : Number(v ?? 0);
  if (!Number.isSafeInteger(n)) {
    throw new CodedError<DbErrorCode>('DB_UNSAFE_INTEGER', `${what} ${String(v)} is not a safe integer`);
  }
  return n;
}
