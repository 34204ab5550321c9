import { CodedError, isCodedError, parseXOnlyKey, toHex, type XOnlyKey } from '../common/index.ts';
import {
  type FieldContext,
  fail,
  intField,
  isPlainObject,
  parseJsonDocument,
  rejectUnknownFields,
  stringField,
} from './json.ts';
import {
  decimalAtto,
  isDustOutput,
  isOpReturnScript,
  parseSlashingRate,
  type SlashingRate,
  slashingAmountSat,
} from './phase2Rules.ts';

/*
 * Babylon's phase-2 x/btcstaking parameters as the chain's REST (gRPC-gateway) exports them, one
 * version per `SetParams`, activated by BTC height. Section numbers refer to
 * ../shared/reference/phase2-covenant.md §2; field definitions are
 * babylonlabs-io/babylon@e65c3a5:proto/babylon/btcstaking/v1/params.proto:10-71, the rules
 * x/btcstaking/types/params.go:150-247 (Params.Validate) and 320-413 (the height→version map).
 *
 * JSON encodings (§2.2): int64/uint64 are strings, uint32 are numbers, bytes are base64, covenant
 * keys are 64-hex x-only keys, LegacyDec are 18-decimal strings.
 */

const UINT16_MAX = 65535;
const UINT32_MAX = 4294967295;
/** int64 amounts must also be exact in JavaScript: 2^53 − 1 is far above 21e14 sat. */
const AMOUNT_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const UINT64_MAX = 18446744073709551615n;

/** One version of the phase-2 params, amounts in satoshis. */
export interface Phase2ParamsVersion {
  readonly version: number;
  /** x-only keys, in the order the chain lists them (scripts sort them). */
  readonly covenantKeys: readonly XOnlyKey[];
  readonly covenantQuorum: number;
  readonly minStakingValueSat: bigint;
  readonly maxStakingValueSat: bigint;
  readonly minStakingTimeBlocks: number;
  readonly maxStakingTimeBlocks: number;
  /** The script out[0] of every slashing tx must pay (S11). */
  readonly slashingPkScript: Uint8Array;
  /** Least fee of both slashing txs (S16). */
  readonly minSlashingTxFeeSat: bigint;
  readonly slashingRate: SlashingRate;
  /** Unbonding CSV and the slashing change output's CSV (S12). */
  readonly unbondingTimeBlocks: number;
  /** The exact unbonding fee (§3 E7). */
  readonly unbondingFeeSat: bigint;
  /** LegacyDec string, in [0, 1]; not used by covenant checks. */
  readonly minCommissionRate: string;
  readonly delegationCreationBaseGasFee: bigint;
  /** A Babylon height; 0 = no allow list. */
  readonly allowListExpirationHeight: bigint;
  /** First BTC height (inclusive) of this version. */
  readonly btcActivationHeight: number;
}

/** Validated, frozen versions 0..n in increasing version and activation height. */
export interface Phase2Params {
  readonly versions: readonly Phase2ParamsVersion[];
}

export interface ParsePhase2Options {
  /** Accept fields the chain's Params does not define (a newer chain). Off by default. */
  readonly allowUnknownFields?: boolean;
}

const PARAMS_FIELDS = new Set([
  'covenant_pks',
  'covenant_quorum',
  'min_staking_value_sat',
  'max_staking_value_sat',
  'min_staking_time_blocks',
  'max_staking_time_blocks',
  'slashing_pk_script',
  'min_slashing_tx_fee_sat',
  'slashing_rate',
  'unbonding_time_blocks',
  'unbonding_fee_sat',
  'min_commission_rate',
  'delegation_creation_base_gas_fee',
  'allow_list_expiration_height',
  'btc_activation_height',
]);

/** An int64/uint64 field, which the gateway prints as a decimal string (§2.2). */
function int64Field(
  obj: Record<string, unknown>,
  field: string,
  ctx: FieldContext,
  range: { min: bigint; max: bigint },
): bigint {
  const v = stringField(obj, field, ctx);
  if (!/^(0|[1-9][0-9]{0,19})$/.test(v)) {
    fail(
      'PARAMS_FIELD_TYPE',
      ctx,
      `${field} must be a decimal integer string, got ${JSON.stringify(v)}`,
      field,
    );
  }
  const n = BigInt(v);
  if (n < range.min || n > range.max) {
    fail('PARAMS_INTEGER_RANGE', ctx, `${field} must be in [${range.min}, ${range.max}], got ${n}`, field);
  }
  return n;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Field(obj: Record<string, unknown>, field: string, ctx: FieldContext): Uint8Array {
  const v = stringField(obj, field, ctx);
  const bytes = BASE64_RE.test(v) ? Uint8Array.from(Buffer.from(v, 'base64')) : undefined;
  // Canonical only: a re-encoding must give the same text (no stray padding bits).
  if (!bytes || bytes.length === 0 || Buffer.from(bytes).toString('base64') !== v) {
    fail('PARAMS_PHASE2_SLASHING_SCRIPT_INVALID', ctx, `${field} must be non-empty canonical base64`, field);
  }
  return bytes;
}

/**
 * Parses and validates one `Params` object (the value under "params" in the REST responses) as
 * version `version`. Enforces every rule of Babylon's Params.Validate, each with its own code, and
 * what our scripts need beyond it: quorum ≤ committee size, unbonding time ≥ 1.
 * @throws {CodedError} a `PARAMS_…` code naming the version and field
 */
export function parsePhase2ParamsVersion(
  raw: unknown,
  version: number,
  opts: ParsePhase2Options = {},
): Phase2ParamsVersion {
  const ctx: FieldContext = { where: `phase-2 params version ${version}` };
  if (!isPlainObject(raw)) fail('PARAMS_SHAPE', ctx, 'params must be a JSON object');
  rejectUnknownFields(raw, PARAMS_FIELDS, ctx, opts.allowUnknownFields ?? false);

  // covenant_pks: x-only BIP340 keys, non-empty, no duplicates (validateCovenantPks).
  const pksRaw = raw.covenant_pks;
  if (pksRaw === undefined || pksRaw === null)
    fail('PARAMS_FIELD_MISSING', ctx, 'covenant_pks is missing', 'covenant_pks');
  if (!Array.isArray(pksRaw))
    fail('PARAMS_FIELD_TYPE', ctx, 'covenant_pks must be an array of hex strings', 'covenant_pks');
  if (pksRaw.length === 0) fail('PARAMS_COVENANT_KEYS_EMPTY', ctx, 'covenant_pks is empty', 'covenant_pks');
  const seen = new Map<string, number>();
  const covenantKeys = pksRaw.map((pk, i) => {
    const field = `covenant_pks[${i}]`;
    let key: XOnlyKey;
    try {
      key = parseXOnlyKey(pk, field, 'PARAMS_PHASE2_COVENANT_KEY_INVALID');
    } catch (e) {
      if (isCodedError(e)) fail('PARAMS_PHASE2_COVENANT_KEY_INVALID', ctx, e.message, field);
      throw e;
    }
    const hex = toHex(key);
    const prev = seen.get(hex);
    if (prev !== undefined) {
      fail('PARAMS_COVENANT_KEY_DUPLICATE', ctx, `${field} repeats covenant_pks[${prev}] (${hex})`, field);
    }
    seen.set(hex, i);
    return key;
  });

  // covenant_quorum > 0 and 2·quorum > |committee| (params.go:208-213); ≤ |committee| for scripts.
  const covenantQuorum = intField(raw, 'covenant_quorum', ctx, { min: 0, max: UINT32_MAX });
  if (covenantQuorum === 0 || covenantQuorum > covenantKeys.length) {
    fail(
      'PARAMS_QUORUM_INVALID',
      ctx,
      `covenant_quorum must be in [1, ${covenantKeys.length}] (the number of covenant keys), got ${covenantQuorum}`,
      'covenant_quorum',
    );
  }
  if (covenantQuorum * 2 <= covenantKeys.length) {
    fail(
      'PARAMS_PHASE2_QUORUM_NOT_MAJORITY',
      ctx,
      `covenant_quorum ${covenantQuorum} is not more than half of the ${covenantKeys.length} covenant keys`,
      'covenant_quorum',
    );
  }

  // 0 < min ≤ max staking value (validateStakingAmout).
  const minStakingValueSat = int64Field(raw, 'min_staking_value_sat', ctx, { min: 1n, max: AMOUNT_MAX });
  const maxStakingValueSat = int64Field(raw, 'max_staking_value_sat', ctx, { min: 1n, max: AMOUNT_MAX });
  if (minStakingValueSat > maxStakingValueSat) {
    fail(
      'PARAMS_PHASE2_VALUE_ORDER',
      ctx,
      `max_staking_value_sat ${maxStakingValueSat} is below min_staking_value_sat ${minStakingValueSat}`,
      'max_staking_value_sat',
    );
  }
  // Staking times in [1, 65535], min ≤ max (validateStakingTime).
  const minStakingTimeBlocks = intField(raw, 'min_staking_time_blocks', ctx, { min: 1, max: UINT16_MAX });
  const maxStakingTimeBlocks = intField(raw, 'max_staking_time_blocks', ctx, { min: 1, max: UINT16_MAX });
  if (minStakingTimeBlocks > maxStakingTimeBlocks) {
    fail(
      'PARAMS_PHASE2_TIME_ORDER',
      ctx,
      `max_staking_time_blocks ${maxStakingTimeBlocks} is below min_staking_time_blocks ${minStakingTimeBlocks}`,
      'max_staking_time_blocks',
    );
  }

  const slashingPkScript = base64Field(raw, 'slashing_pk_script', ctx);
  // min_slashing_tx_fee_sat > 0 (validateMinSlashingTxFeeSat).
  const minSlashingTxFeeSat = int64Field(raw, 'min_slashing_tx_fee_sat', ctx, { min: 1n, max: AMOUNT_MAX });

  // slashing_rate: 0 < rate < 1, 4 decimals at most (IsSlashingRateValid).
  const rateRaw = stringField(raw, 'slashing_rate', ctx);
  let slashingRate: SlashingRate;
  try {
    slashingRate = parseSlashingRate(rateRaw, 'PARAMS_PHASE2_SLASHING_RATE_INVALID');
  } catch (e) {
    if (isCodedError(e)) fail('PARAMS_PHASE2_SLASHING_RATE_INVALID', ctx, e.message, 'slashing_rate');
    throw e;
  }

  // unbonding_time_blocks ≤ 65535 (validateUnbondingTime); ≥ 1 too: a 0 lock is no lock at all.
  const unbondingTimeBlocks = intField(raw, 'unbonding_time_blocks', ctx, { min: 1, max: UINT16_MAX });
  // 0 < unbonding fee < min staking value (params.go:230-233).
  const unbondingFeeSat = int64Field(raw, 'unbonding_fee_sat', ctx, { min: 0n, max: AMOUNT_MAX });
  if (unbondingFeeSat <= 0n || unbondingFeeSat >= minStakingValueSat) {
    fail(
      'PARAMS_PHASE2_UNBONDING_FEE_INVALID',
      ctx,
      `unbonding_fee_sat ${unbondingFeeSat} must be positive and below min_staking_value_sat ${minStakingValueSat}`,
      'unbonding_fee_sat',
    );
  }

  // min_commission_rate in [0, 1] (validateMinCommissionRate).
  const minCommissionRate = stringField(raw, 'min_commission_rate', ctx);
  const commissionAtto = decimalAtto(minCommissionRate);
  if (commissionAtto === undefined) {
    fail(
      'PARAMS_FIELD_TYPE',
      ctx,
      'min_commission_rate must be a decimal string with at most 18 decimals',
      'min_commission_rate',
    );
  }
  if (commissionAtto > 10n ** 18n) {
    fail(
      'PARAMS_PHASE2_COMMISSION_RATE_INVALID',
      ctx,
      `min_commission_rate ${minCommissionRate} is above 1`,
      'min_commission_rate',
    );
  }

  const delegationCreationBaseGasFee = int64Field(raw, 'delegation_creation_base_gas_fee', ctx, {
    min: 0n,
    max: UINT64_MAX,
  });
  const allowListExpirationHeight = int64Field(raw, 'allow_list_expiration_height', ctx, {
    min: 0n,
    max: UINT64_MAX,
  });
  const btcActivationHeight = intField(raw, 'btc_activation_height', ctx, { min: 0, max: UINT32_MAX });

  // The smallest slashing output, round(float64(min value − unbonding fee) × rate), is not dust
  // unless slashing_pk_script starts with OP_RETURN (validateNoDustSlashingOutput, §1.3).
  if (!isOpReturnScript(slashingPkScript)) {
    const minSlash = slashingAmountSat(minStakingValueSat - unbondingFeeSat, slashingRate);
    if (isDustOutput(minSlash, slashingPkScript)) {
      fail(
        'PARAMS_PHASE2_SLASHING_OUTPUT_DUST',
        ctx,
        `the smallest slashing output, ${minSlash} sat, is dust for slashing_pk_script`,
        'slashing_rate',
      );
    }
  }

  return Object.freeze({
    version,
    covenantKeys: Object.freeze(covenantKeys),
    covenantQuorum,
    minStakingValueSat,
    maxStakingValueSat,
    minStakingTimeBlocks,
    maxStakingTimeBlocks,
    slashingPkScript,
    minSlashingTxFeeSat,
    slashingRate,
    unbondingTimeBlocks,
    unbondingFeeSat,
    minCommissionRate,
    delegationCreationBaseGasFee,
    allowListExpirationHeight,
    btcActivationHeight,
  });
}

/**
 * Parses the chain's `GET /babylon/btcstaking/v1/params_versions` response,
 * `{"params": [{"version": n, "params": {…}}, …], "pagination": {…}}` (§2.1; query.proto:24-26,
 * 368-377), from JSON text, bytes or a parsed value. The list must be complete and in order:
 * versions 0, 1, 2, … with strictly increasing btc_activation_height (the chain's height→version
 * map invariants, params.go:320-345, 384-413). A page with `pagination.next_key` set is refused.
 * @throws {CodedError} a `PARAMS_…` code
 */
export function parsePhase2ParamsVersions(
  input: string | Uint8Array | unknown,
  opts: ParsePhase2Options = {},
): Phase2Params {
  const doc =
    typeof input === 'string' || input instanceof Uint8Array
      ? parseJsonDocument(input, 'phase-2 params')
      : input;
  const top = { where: 'phase-2 params_versions' };
  if (!isPlainObject(doc)) fail('PARAMS_SHAPE', top, 'expected a JSON object with a "params" array');
  rejectUnknownFields(doc, new Set(['params', 'pagination']), top, opts.allowUnknownFields ?? false);
  const page = doc.pagination;
  if (page !== undefined && page !== null) {
    if (!isPlainObject(page)) fail('PARAMS_SHAPE', top, '"pagination" must be an object');
    if (page.next_key !== undefined && page.next_key !== null && page.next_key !== '') {
      fail(
        'PARAMS_PHASE2_INCOMPLETE',
        top,
        'pagination.next_key is set: this is not the last page of versions',
      );
    }
  }
  const list = doc.params;
  if (!Array.isArray(list)) fail('PARAMS_SHAPE', top, '"params" must be an array');
  if (list.length === 0) fail('PARAMS_EMPTY', top, 'the params list is empty');
  const versions = list.map((entry, i) => {
    const ctx = { where: `phase-2 params_versions[${i}]` };
    if (!isPlainObject(entry)) fail('PARAMS_SHAPE', ctx, 'each entry must be {"version", "params"}');
    rejectUnknownFields(entry, new Set(['version', 'params']), ctx, opts.allowUnknownFields ?? false);
    const version = intField(entry, 'version', ctx, { min: 0, max: UINT32_MAX });
    if (version !== i)
      fail('PARAMS_VERSION_SEQUENCE', ctx, `version must be ${i}, got ${version}`, 'version');
    if (entry.params === undefined || entry.params === null)
      fail('PARAMS_FIELD_MISSING', ctx, 'params is missing', 'params');
    return parsePhase2ParamsVersion(entry.params, version, opts);
  });
  versions.forEach((v, i) => {
    const prev = versions[i - 1];
    if (prev && v.btcActivationHeight <= prev.btcActivationHeight) {
      fail(
        'PARAMS_ACTIVATION_NOT_INCREASING',
        { where: `phase-2 params version ${v.version}` },
        `btc_activation_height ${v.btcActivationHeight} must be above version ${prev.version}'s ${prev.btcActivationHeight}`,
        'btc_activation_height',
      );
    }
  });
  return Object.freeze({ versions: Object.freeze(versions) });
}

/**
 * The version in force at a BTC height: the greatest btc_activation_height ≤ height (the chain's
 * GetVersionForHeight, params.go:367-382; §2.3), or undefined below the first. Delegations use
 * their inclusion height, or the BTC tip at submission without an inclusion proof (pre-staking
 * registration, stake expansion); the chain stores the result as `params_version`.
 */
export function selectPhase2Version(
  params: Phase2Params,
  btcHeight: number,
): Phase2ParamsVersion | undefined {
  const vs = params.versions;
  for (let i = vs.length - 1; i >= 0; i--) {
    if (vs[i]!.btcActivationHeight <= btcHeight) return vs[i];
  }
  return undefined;
}

/**
 * As selectPhase2Version, but a height below the first activation is an error.
 * @throws {CodedError} PARAMS_NO_VERSION_FOR_HEIGHT
 */
export function assertPhase2Version(params: Phase2Params, btcHeight: number): Phase2ParamsVersion {
  const v = selectPhase2Version(params, btcHeight);
  if (!v) {
    throw new CodedError(
      'PARAMS_NO_VERSION_FOR_HEIGHT',
      `no phase-2 params version is active at BTC height ${btcHeight}; the first activates at ${params.versions[0]!.btcActivationHeight}`,
      { details: { height: btcHeight } },
    );
  }
  return v;
}

/**
 * The version a delegation names (`params_version`): what the emulator and the chain check a
 * delegation's covenant signatures against (§2.3, §2.4).
 * @throws {CodedError} PARAMS_PHASE2_UNKNOWN_VERSION
 */
export function phase2VersionByNumber(params: Phase2Params, version: number): Phase2ParamsVersion {
  const v = Number.isInteger(version) ? params.versions[version] : undefined;
  if (!v) {
    throw new CodedError(
      'PARAMS_PHASE2_UNKNOWN_VERSION',
      `phase-2 params version ${version} is not loaded (versions 0..${params.versions.length - 1} are)`,
      { details: { version } },
    );
  }
  return v;
}

/** A version back in the chain's REST JSON shape (the value under "params"). */
export function phase2ParamsVersionToJson(v: Phase2ParamsVersion): Record<string, unknown> {
  return {
    covenant_pks: v.covenantKeys.map(toHex),
    covenant_quorum: v.covenantQuorum,
    min_staking_value_sat: v.minStakingValueSat.toString(),
    max_staking_value_sat: v.maxStakingValueSat.toString(),
    min_staking_time_blocks: v.minStakingTimeBlocks,
    max_staking_time_blocks: v.maxStakingTimeBlocks,
    slashing_pk_script: Buffer.from(v.slashingPkScript).toString('base64'),
    min_slashing_tx_fee_sat: v.minSlashingTxFeeSat.toString(),
    slashing_rate: v.slashingRate.decimal,
    unbonding_time_blocks: v.unbondingTimeBlocks,
    unbonding_fee_sat: v.unbondingFeeSat.toString(),
    min_commission_rate: v.minCommissionRate,
    delegation_creation_base_gas_fee: v.delegationCreationBaseGasFee.toString(),
    allow_list_expiration_height: v.allowListExpirationHeight.toString(),
    btc_activation_height: v.btcActivationHeight,
  };
}

/**
 * Phase-2 params may only grow: `next` keeps every version of `current` unchanged and may append
 * new ones. The chain never rewrites a version (SetParams appends, §2.3); a refetch that differs
 * means a wrong endpoint or a forked chain, and checking old delegations against changed rules
 * would be unsafe. Decimals are compared by value ("0.05" = "0.050000000000000000").
 * @throws {CodedError} PARAMS_PHASE2_RELOAD_REFUSED
 */
export function assertPhase2ParamsAppendOnly(current: Phase2Params, next: Phase2Params): void {
  if (next.versions.length < current.versions.length) {
    throw new CodedError(
      'PARAMS_PHASE2_RELOAD_REFUSED',
      `the new phase-2 params have ${next.versions.length} versions, fewer than the ${current.versions.length} loaded: versions cannot be removed`,
    );
  }
  const canonical = (v: Phase2ParamsVersion): string =>
    JSON.stringify({
      ...phase2ParamsVersionToJson(v),
      slashing_rate: decimalAtto(v.slashingRate.decimal)!.toString(),
      min_commission_rate: decimalAtto(v.minCommissionRate)!.toString(),
    });
  current.versions.forEach((v, i) => {
    if (canonical(v) !== canonical(next.versions[i]!)) {
      throw new CodedError(
        'PARAMS_PHASE2_RELOAD_REFUSED',
        `the new phase-2 params change version ${v.version}: existing versions cannot change`,
        { details: { version: v.version } },
      );
    }
  });
}
