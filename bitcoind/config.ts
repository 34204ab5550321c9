import { CodedError, readSecretText } from '../common/index.ts';
import { RestClient } from './restClient.ts';
import { RpcClient } from './rpcClient.ts';

/** The `[bitcoind]` table every service shares: where the node is and how to authenticate. */
export interface BitcoindConnectionConfig {
  readonly url: string;
  readonly cookie_file?: string;
  readonly user?: string;
  /** File (mode 0600) holding the RPC password of `user`. */
  readonly password_file?: string;
  readonly timeout_ms: number;
}

/** JSON Schema properties of that table, for each service's config schema to include. */
export const BITCOIND_CONNECTION_PROPERTIES = {
  url: { type: 'string', pattern: '^https?://' },
  cookie_file: { type: 'string', minLength: 1 },
  user: { type: 'string', minLength: 1 },
  password_file: { type: 'string', minLength: 1 },
  timeout_ms: { type: 'integer', minimum: 100, default: 10_000 },
} as const;

/**
 * The RPC client of a `[bitcoind]` table: a cookie file, or a user with a password from a file
 * readable only by its owner; never a password in the config itself.
 * @throws {CodedError} CONFIG_INVALID, CONFIG_SECRET_*, RPC_BAD_OPTIONS
 */
export async function rpcClientFromConfig(c: BitcoindConnectionConfig): Promise<RpcClient> {
  if (c.password_file && !c.user)
    throw new CodedError('CONFIG_INVALID', 'bitcoind.password_file needs bitcoind.user');
  return new RpcClient({
    url: c.url,
    timeoutMs: c.timeout_ms,
    ...(c.cookie_file ? { cookieFile: c.cookie_file } : {}),
    ...(c.user
      ? {
          user: c.user,
          password: c.password_file ? await readSecretText(c.password_file, 'bitcoind password file') : '',
        }
      : {}),
  });
}

/**
 * The REST client of a `[bitcoind]` table: the same host and port (REST is unauthenticated, so no
 * credential is read or sent).
 * @throws {CodedError} RPC_BAD_OPTIONS
 */
export function restClientFromConfig(c: BitcoindConnectionConfig): RestClient {
  return new RestClient({ url: c.url, timeoutMs: c.timeout_ms });
}
