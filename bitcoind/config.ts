import { CodedError } from '../common/index.ts';
import { type ConfigOf, readSecretText } from '../runtime/index.ts';
import { RestClient } from './restClient.ts';
import { RpcClient } from './rpcClient.ts';

/**
 * JSON Schema properties of the `[bitcoind]` table every service shares (where the node is and how
 * to authenticate), for each service's config schema to include. `password_file`: a file (mode 0600)
 * holding the RPC password of `user`.
 */
export const BITCOIND_CONNECTION_PROPERTIES = {
  url: { type: 'string', pattern: '^https?://', hint: 'an http:// or https:// URL' },
  cookie_file: { type: 'string', minLength: 1 },
  user: { type: 'string', minLength: 1 },
  password_file: { type: 'string', minLength: 1 },
  timeout_ms: { type: 'integer', minimum: 100, default: 10_000 },
} as const;

/** That table as loaded: its type is the schema's. */
export type BitcoindConnectionConfig = ConfigOf<{
  type: 'object';
  additionalProperties: false;
  required: ['url'];
  properties: typeof BITCOIND_CONNECTION_PROPERTIES;
}>;

/**
 * Refuses credentials in `url`: a config file is not a secret store, and a URL ends up in logs and
 * process listings. RpcClient itself accepts userinfo (for tools and tests); a service's config
 * must not. Called by each service's config loader, and again before any client is built.
 * @throws {CodedError} CONFIG_INVALID naming the options to use instead (never the secret)
 */
export function assertNoCredentialsInUrl(c: Pick<BitcoindConnectionConfig, 'url'>, table = 'bitcoind'): void {
  let u: URL;
  try {
    u = new URL(c.url);
  } catch {
    return; // not a URL at all: the schema and RpcClient say so in their own words
  }
  if (u.username !== '' || u.password !== '') {
    throw new CodedError(
      'CONFIG_INVALID',
      `${table}.url must not contain a user or password (secrets come only from files or the environment): give ${table}.cookie_file, or ${table}.user with ${table}.password_file (mode 0600)`,
    );
  }
}

/**
 * The RPC client of a `[bitcoind]` table: a cookie file, or a user with a password from a file
 * readable only by its owner; never a password in the config itself.
 * @throws {CodedError} CONFIG_INVALID, CONFIG_SECRET_*, RPC_BAD_OPTIONS
 */
export async function rpcClientFromConfig(c: BitcoindConnectionConfig): Promise<RpcClient> {
  assertNoCredentialsInUrl(c);
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
