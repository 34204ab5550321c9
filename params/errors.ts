/**
 * Every rejection params/ can produce. One code per rule, so an operator reading a refusal knows
 * which rule a file broke. Each code is documented in params/README.md (a test checks).
 */
export const PARAMS_ERRORS = {
  PARAMS_FILE_UNREADABLE: 'The params file cannot be read (missing, a directory, no permission).',
  PARAMS_NOT_JSON: 'The file is not valid JSON.',
  PARAMS_SHAPE: 'The document does not have the expected shape (an object with a non-empty array).',
  PARAMS_EMPTY: 'The versions list is empty.',
  PARAMS_FIELD_MISSING: 'A required field is missing.',
  PARAMS_FIELD_TYPE: 'A field has the wrong JSON type (integers must be JSON integers, hex must be strings).',
  PARAMS_UNKNOWN_FIELD: 'A field is not part of the format (refused unless allowUnknownFields is set).',
  PARAMS_INTEGER_RANGE: 'An integer field is outside the range its type allows.',
  PARAMS_TAG_INVALID: 'The tag is not 4 bytes of hex.',
  PARAMS_COVENANT_KEYS_EMPTY: 'covenant_pks is empty.',
  PARAMS_COVENANT_KEY_INVALID: 'A covenant key is not a 33-byte compressed secp256k1 key in hex.',
  PARAMS_COVENANT_KEY_DUPLICATE: 'Two covenant keys have the same x-only key, so scripts would repeat a key.',
  PARAMS_QUORUM_INVALID: 'covenant_quorum is zero or larger than the number of covenant keys.',
  PARAMS_AMOUNT_ORDER: 'max_staking_amount is below min_staking_amount.',
  PARAMS_MIN_AMOUNT_BELOW_FEE:
    'min_staking_amount is below unbonding_fee + 1000 sat, the smallest unbonding output.',
  PARAMS_STAKING_TIME_ORDER: 'max_staking_time is below min_staking_time.',
  PARAMS_CAP_EXCLUSIVE: 'Exactly one of staking_cap and cap_height must be non-zero.',
  PARAMS_CAP_BELOW_MAX_AMOUNT: 'staking_cap is below max_staking_amount.',
  PARAMS_CAP_HEIGHT_BEFORE_ACTIVATION:
    'cap_height is below activation_height, so no stake of the version could be active.',
  PARAMS_VERSION_SEQUENCE: 'Versions do not start at 0 or do not increase by exactly 1.',
  PARAMS_ACTIVATION_NOT_INCREASING:
    'activation_height does not strictly increase from one version to the next.',
  PARAMS_STAKING_CAP_DECREASING: 'staking_cap is below the last non-zero staking_cap of an earlier version.',
  PARAMS_CAP_HEIGHT_DECREASING: 'cap_height is below the cap_height of an earlier version.',
  PARAMS_VERSIONS_CHANGED:
    'A params file read again changes or removes a version in force; versions may only be appended.',
  PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY:
    'A version appended to params in force activates at or below the tip plus the confirmation depth, so it would change the rules for stakes already on chain.',
  PARAMS_NO_VERSION_FOR_HEIGHT:
    'No params version is active at the height (it is below the first activation height).',
  PARAMS_FP_INVALID: 'An entry of the finality-provider file is invalid.',
  PARAMS_FP_DUPLICATE: 'Two finality providers in the file have the same btc_pk.',
  PARAMS_PHASE2_COVENANT_KEY_INVALID: 'A phase-2 covenant key is not a 32-byte x-only secp256k1 key in hex.',
  PARAMS_PHASE2_QUORUM_NOT_MAJORITY:
    'covenant_quorum is not more than half of the covenant committee (Babylon requires 2 × quorum > keys).',
  PARAMS_PHASE2_VALUE_ORDER: 'max_staking_value_sat is below min_staking_value_sat.',
  PARAMS_PHASE2_TIME_ORDER: 'max_staking_time_blocks is below min_staking_time_blocks.',
  PARAMS_PHASE2_SLASHING_SCRIPT_INVALID: 'slashing_pk_script is not non-empty canonical base64.',
  PARAMS_PHASE2_SLASHING_RATE_INVALID:
    'slashing_rate is not a decimal strictly between 0 and 1 with at most 4 decimal places.',
  PARAMS_PHASE2_UNBONDING_FEE_INVALID:
    'unbonding_fee_sat is not positive or not below min_staking_value_sat.',
  PARAMS_PHASE2_COMMISSION_RATE_INVALID: 'min_commission_rate is above 1.',
  PARAMS_PHASE2_SLASHING_OUTPUT_DUST:
    'The smallest slashing output (min staking value minus unbonding fee, times the slashing rate) is dust for slashing_pk_script.',
  PARAMS_PHASE2_INCOMPLETE:
    'The params_versions response is one page of several (pagination.next_key is set), so versions may be missing.',
  PARAMS_PHASE2_UNKNOWN_VERSION: 'No phase-2 params version with that number is loaded.',
  PARAMS_PHASE2_RELOAD_REFUSED:
    'The new phase-2 params remove or change a version already loaded; versions may only be appended.',
} as const;

export type ParamsErrorCode = keyof typeof PARAMS_ERRORS;
