/** Every code the unbonding pipeline records, one sentence each (documented in pipeline/README.md). */
export const PIPELINE_ERRORS = {
  PIPELINE_SIGNER_TIMEOUT: 'A signer did not answer within its timeout.',
  PIPELINE_SIGNER_UNREACHABLE: 'A signer could not be reached (connection refused, TLS failure, reset).',
  PIPELINE_SIGNER_REFUSED: 'A signer answered with an error; its own code is recorded beside.',
  PIPELINE_SIGNER_BAD_ANSWER: 'A signer answered 200 without a 64-byte signature, or too much.',
  PIPELINE_SIGNER_INVALID_SIGNATURE:
    'A signer’s signature does not verify against the sighash and its key; it is ignored.',
  PIPELINE_SIGNER_ABORTED: 'A request to a signer was abandoned because the quorum was reached.',
  PIPELINE_RECHECK_FAILED:
    'The stored request does not hold against the chain and the params (never trusted blindly).',
  PIPELINE_NODE_UNAVAILABLE: 'The pipeline’s Bitcoin node did not answer.',
  PIPELINE_NODE_REJECTED:
    'The node refused the fully signed unbonding tx for another reason than a spent input.',
  PIPELINE_CONFIG_INVALID:
    'A configured signer is invalid (bad public key, key in no params version, unreadable TLS file).',
  PIPELINE_INTERNAL: 'An unexpected internal error; details are in the log.',
} as const;

export type PipelineErrorCode = keyof typeof PIPELINE_ERRORS;
