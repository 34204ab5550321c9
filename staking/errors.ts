/**
 * Every rejection staking/ can produce, one code per rule. Documented in staking/README.md (a test
 * checks). The signer and the API map these to their wire codes.
 */
export const STAKING_ERRORS = {
  STAKING_BAD_HEX: 'A hex field is not valid hex or has the wrong length.',
  STAKING_TX_MALFORMED:
    'The bytes do not deserialize as one Bitcoin transaction (truncated, trailing data, bad counts).',
  STAKING_TX_NONCANONICAL_VARINT:
    'A count or length in the transaction is a CompactSize not in its shortest form, which Bitcoin and btcd refuse.',
  STAKING_TX_TOO_LARGE: 'The transaction is larger than the largest consensus-valid transaction.',
  STAKING_INVALID_KEY: 'A public key is not a valid 32-byte x-only key.',
  STAKING_DUPLICATE_KEYS: 'The staker, finality-provider and covenant keys are not pairwise distinct.',
  STAKING_INVALID_ARGUMENT: 'An argument is out of its range (timelock, quorum, value, index).',
  STAKING_NOT_ENOUGH_OUTPUTS: 'A staking transaction needs at least two outputs.',
  STAKING_NO_OP_RETURN: 'The transaction has no v0 OP_RETURN output with the expected tag.',
  STAKING_MULTIPLE_OP_RETURN: 'The transaction has more than one v0 OP_RETURN output.',
  STAKING_WRONG_TAG: 'The v0 OP_RETURN output carries a tag other than the params tag.',
  STAKING_NO_STAKING_OUTPUT:
    'No output pays the staking script rebuilt from the OP_RETURN data and the params.',
  STAKING_MULTIPLE_STAKING_OUTPUTS: 'More than one output pays the staking script.',
  STAKING_VALUE_OUT_OF_RANGE: 'The staking value is outside the params min/max staking amount.',
  STAKING_TIME_OUT_OF_RANGE: 'The staking time is outside the params min/max staking time.',
  STAKING_UNBONDING_INPUT_COUNT: 'An unbonding transaction must have exactly one input.',
  STAKING_UNBONDING_OUTPUT_COUNT: 'An unbonding transaction must have exactly one output.',
  STAKING_UNBONDING_VERSION: 'An unbonding transaction must have version 2.',
  STAKING_UNBONDING_LOCKTIME: 'An unbonding transaction must have lock time 0.',
  STAKING_UNBONDING_SEQUENCE: 'The unbonding input must have sequence 0xffffffff (final, not replaceable).',
  STAKING_UNBONDING_SCRIPTSIG: 'The unbonding input must have an empty scriptSig.',
  STAKING_UNBONDING_TOO_HEAVY:
    'The unbonding transaction weighs more than a one-input, one-output taproot spend can.',
  STAKING_UNBONDING_WRONG_INPUT: 'The unbonding input does not spend the staking output.',
  STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT: 'The unbonding output does not pay the expected unbonding script.',
  STAKING_UNBONDING_WRONG_VALUE:
    'The unbonding output value is not the staking value minus the unbonding fee.',
  STAKING_UNBONDING_VALUE_TOO_LOW:
    'The staking value does not cover the unbonding fee: the unbonding output would carry 0 sat or less.',
  STAKING_UNBONDING_TXID_MISMATCH: 'The txid named for the unbonding transaction is not its txid.',
  STAKING_UNBONDING_STAKER_SIGNATURE:
    "The staker's signature does not verify over the unbonding transaction's sighash.",
  STAKING_TX_ABOVE_MAX_HEIGHT:
    'The staking transaction is included above the maximum staking transaction height the service unbonds.',
  STAKING_NO_PARAMS_FOR_HEIGHT: "No params version applies at the staking transaction's inclusion height.",
  STAKING_COVENANT_KEY_NOT_IN_PARAMS:
    'The covenant key that is to sign is not in the params version of the staking height (the whole 33-byte key is compared).',
  STAKING_NOT_ENOUGH_CONFIRMATIONS:
    'The staking transaction has fewer confirmations than the params version of its height requires.',
  STAKING_NOT_A_STAKING_TX:
    'The transaction does not parse as a staking transaction under the params version of its height (the parse code is in details).',
  STAKING_OUTPUT_SCRIPT_MISMATCH:
    'The staking output script named in the request is not the script of the staking output.',
  STAKING_INVALID_SIGNATURE: 'A signature is not 64 bytes or does not verify.',
  STAKING_QUORUM_NOT_MET: 'Fewer covenant signatures than the quorum were given.',
  STAKING_WITNESS_UNKNOWN_KEY: 'A covenant signature is for a key that is not in the covenant set.',
  STAKING_WITNESS_DUPLICATE_KEY: 'Two covenant signatures were given for the same key.',
  STAKING_ADAPTOR_SIG_MALFORMED:
    'An adaptor signature is not 65 bytes (or the 66-byte legacy form), or its R0 is not a point, or its s is not below the curve order.',
  STAKING_ADAPTOR_ENC_KEY_INVALID: 'An adaptor encryption key is not a 33-byte compressed secp256k1 point.',
  STAKING_ADAPTOR_SECRET_INVALID:
    'A signing or decryption key is not a scalar between 1 and the curve order minus 1.',
  STAKING_ADAPTOR_SIGN_FAILED:
    'Encrypted signing failed (a zero nonce, R0 at infinity, a zero s, or the self-check failed); sign again with fresh randomness.',
  STAKING_ADAPTOR_ZERO_SCALAR:
    'A pre-signature, signature, decrypted signature or extracted key has a zero scalar.',
  STAKING_SLASHING_FUNDING_TX_INSANE:
    "The funding transaction of a slashing transaction fails Bitcoin's context-free sanity rules.",
  STAKING_SLASHING_MIN_FEE_INVALID: 'The minimum slashing fee of the params is not above 0.',
  STAKING_SLASHING_RATE_INVALID:
    'The slashing rate is not a decimal strictly between 0 and 1 with at most 4 decimal places.',
  STAKING_SLASHING_FUNDING_INDEX:
    'The funding output index is beyond the outputs of the funding transaction.',
  STAKING_SLASHING_FUNDING_NOT_TAPROOT: 'The output a slashing transaction would spend is not a P2TR output.',
  STAKING_SLASHING_TX_INSANE: "The slashing transaction fails Bitcoin's context-free sanity rules.",
  STAKING_SLASHING_INPUT_COUNT: 'A slashing transaction must have exactly one input.',
  STAKING_SLASHING_OUTPUT_COUNT: 'A slashing transaction must have exactly two outputs.',
  STAKING_SLASHING_LOCKTIME: 'A slashing transaction must have lock time 0.',
  STAKING_SLASHING_VERSION: 'A slashing transaction must have version 1 or 2.',
  STAKING_SLASHING_TOO_HEAVY:
    'The slashing transaction weighs more than the standard limit of 400,000 weight units.',
  STAKING_SLASHING_SEQUENCE: 'The slashing input must have sequence 0xffffffff (final, not replaceable).',
  STAKING_SLASHING_SCRIPTSIG: 'The slashing input must have an empty scriptSig.',
  STAKING_SLASHING_AMOUNT_TOO_LOW:
    'The slashing output pays less than the funding value times the slashing rate, rounded as Babylon rounds it.',
  STAKING_SLASHING_WRONG_SLASHING_SCRIPT:
    'The first output of the slashing transaction does not pay the params slashing script.',
  STAKING_SLASHING_WRONG_CHANGE_SCRIPT:
    'The second output of the slashing transaction does not pay the staker change output with the unbonding time lock.',
  STAKING_SLASHING_DUST_OUTPUT: 'An output of the slashing transaction is dust (OP_RETURN outputs excepted).',
  STAKING_SLASHING_ZERO_VALUE: 'The slashing output or the funding output is not above 0 sat.',
  STAKING_SLASHING_OVERSPEND:
    'The slashing transaction outputs pay at least the funding value, so its fee is not positive.',
  STAKING_SLASHING_FEE_TOO_LOW:
    'The slashing transaction fee is below the minimum slashing fee of the params.',
  STAKING_SLASHING_WRONG_INPUT_TXID:
    'The slashing input does not spend an output of the funding transaction.',
  STAKING_SLASHING_WRONG_INPUT_INDEX: 'The slashing input does not spend the funding output index.',
  STAKING_SLASHING_AMOUNT_NOT_POSITIVE:
    'The slashing amount computed from the funding value and the rate is 0, so no slashing transaction can be built.',
  STAKING_SLASHING_CHANGE_NOT_POSITIVE:
    'The funding value does not cover the slashing amount and the fee, so the change output would not be positive.',
  STAKING_TXOUT_MALFORMED:
    'A serialized transaction output is not an 8-byte value, a length and a script with nothing after it.',
  STAKING_EXPANSION_INPUT_COUNT: 'A stake-expansion transaction must have exactly two inputs.',
  STAKING_EXPANSION_WRONG_PREVIOUS_TXID:
    'The first input of a stake-expansion transaction does not spend the previous staking transaction.',
  STAKING_EXPANSION_WRONG_PREVIOUS_INDEX:
    'The first input of a stake-expansion transaction does not spend the previous staking output index.',
  STAKING_EXPANSION_WRONG_FUNDING_TXID:
    'The second input of a stake-expansion transaction does not spend the funding transaction.',
  STAKING_EXPANSION_FUNDING_VALUE: 'The other funding output of a stake expansion is not above 0 sat.',
  STAKING_EXPANSION_VALUE_DECREASED: 'The new staking output holds less than the previous delegation.',
  STAKING_EXPANSION_NO_FEE:
    'The stake-expansion outputs pay at least the previous stake plus the funding output, so the fee is not positive.',
  STAKING_EXPANSION_COMMITTEE_OVERLAP:
    'Fewer members of the previous covenant committee than its quorum are in the current committee.',
} as const;

export type StakingErrorCode = keyof typeof STAKING_ERRORS;
