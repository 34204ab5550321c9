/**
 * Every error the indexer can stop or refuse with. Documented in indexer/README.md (a test checks).
 */
export const INDEXER_ERRORS = {
  INDEXER_MAJOR_REORG:
    'A block the indexer already decided on (it had the confirmation depth) is no longer on the node’s best chain; the indexer stops. Rebuild from below the fork point.',
  INDEXER_BAD_BLOCK:
    'The node returned bytes that do not parse as a block, or a block that does not link to its parent.',
  INDEXER_REBUILD_HEIGHT:
    'The rebuild height is outside what the store can roll back to (below the start height or above the last processed block + 1).',
  INDEXER_PARAMS_CHANGED:
    'The params file no longer matches the store (first version’s activation height, confirmation depth, or an existing version changed).',
  INDEXER_FETCH_FAILED:
    'The thread that fetches raw blocks stopped or failed unexpectedly; the poll is retried with a new one.',
  INDEXER_BACKUP_FAILED:
    'The backup directory is not empty, or the store could not be copied into it (space, permissions).',
  INDEXER_STORE_UNAVAILABLE:
    'The LMDB store cannot be opened (path, permissions, or another process holds it).',
} as const;

export type IndexerErrorCode = keyof typeof INDEXER_ERRORS;
