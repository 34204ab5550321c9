/**
 * Every failure bitcoind/ reports. `RPC_…` codes come from talking to a node, `BITCOIND_…` codes from
 * launching one. Each code is documented in bitcoind/README.md (errors.test.ts checks).
 */
export const BITCOIND_ERRORS = {
  RPC_HTTP:
    'The node answered with an HTTP error and no JSON-RPC body (401 or 403: authentication failed; REST: 404 for an unknown block, or every path when REST is off).',
  RPC_ERROR: 'The node rejected the call with a JSON-RPC error; its numeric code and message are kept.',
  RPC_TIMEOUT: 'The node did not answer within the timeout.',
  RPC_UNREACHABLE: 'No connection to the node could be made (refused, reset or no route).',
  RPC_BAD_RESPONSE:
    'The node answered with something that is not a JSON-RPC response (or, over REST, not an HTTP response bitcoind would send).',
  RPC_BAD_AMOUNT:
    'An amount is not a non-negative decimal of at most 8 places within the 21 million BTC supply.',
  RPC_BAD_OPTIONS: 'The client options are invalid (URL, credentials or timeout).',
  BITCOIND_NOT_INSTALLED: 'No bitcoind binary was found; run `bash bitcoind/scripts/install-knots.sh`.',
  BITCOIND_EXITED: 'bitcoind exited before its RPC server answered.',
  BITCOIND_START_TIMEOUT: 'bitcoind did not answer RPC within the start timeout.',
} as const;

export type BitcoindErrorCode = keyof typeof BITCOIND_ERRORS;
