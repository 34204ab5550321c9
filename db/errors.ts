/**
 * Every error db/ raises. Documented in db/README.md (a test checks).
 */
export const DB_ERRORS = {
  DB_INVALID_URL: 'The database URL does not parse as a postgres:// or postgresql:// URL.',
  DB_UNREACHABLE:
    'The PostgreSQL server cannot be reached, refused the connection, or rejected the credentials or database name.',
  DB_MIGRATION_FAILED: 'A migration file failed to apply; the transaction of that file was rolled back.',
  DB_MIGRATION_MODIFIED:
    'A migration already applied to the database differs from the file of the same version (checksum mismatch).',
  DB_MIGRATION_UNKNOWN:
    'The database has a migration this code does not know (it was migrated by a newer version).',
  DB_UNSAFE_INTEGER: 'A stored integer is beyond 2^53 − 1 and cannot be served exactly.',
} as const;

export type DbErrorCode = keyof typeof DB_ERRORS;
