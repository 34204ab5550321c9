import {
  CodedError,
  type CompressedKey,
  isCodedError,
  parseCompressedKey,
  parseHex,
  toHex,
  type XOnlyKey,
  xOnlyOf,
} from '../common/index.ts';
import {
  type FieldContext,
  fail,
  intField,
  isPlainObject,
  parseJsonDocument,
  rejectUnknownFields,
  stringField,
} from './json.ts';

/** Smallest unbonding output Babylon allows (`MinUnbondingOutputValue` in the networks parser). */
export const MIN_UNBONDING_OUTPUT_SAT = 1000n;

const UINT16_MAX = 65535;
const UINT32_MAX = 4294967295;
/** Amounts must fit Go's btcutil.Amount (int64) and JS exact integers; the latter is smaller. */
const AMOUNT_MAX = Number.MAX_SAFE_INTEGER;
const HEIGHT_MAX = UINT32_MAX;

/** One version of Babylon's phase-1 global parameters (staking-protocol.md §7.1), amounts in satoshis. */
export interface ParamsVersion {
  readonly version: number;
  readonly activationHeight: number;
  /** Value cap in satoshis; 0n when the version uses a height cap. */
  readonly stakingCapSat: bigint;
  /** Last height (inclusive) at which stakes of this version are active; 0 when unset. */
  readonly capHeight: number;
  readonly tag: Uint8Array;
  readonly tagHex: string;
  /** The keys as published: 33-byte compressed, in file order. */
  readonly covenantPks: readonly CompressedKey[];
  /** The same keys in x-only form, in file order (scripts sort them). */
  readonly covenantKeys: readonly XOnlyKey[];
  readonly covenantQuorum: number;
  readonly unbondingTime: number;
  readonly unbondingFeeSat: bigint;
  readonly maxStakingAmountSat: bigint;
  readonly minStakingAmountSat: bigint;
  readonly maxStakingTime: number;
  readonly minStakingTime: number;
  readonly confirmationDepth: number;
}

/** A validated, frozen list of versions, in increasing version and activation height. */
export interface GlobalParams {
  readonly versions: readonly ParamsVersion[];
}

export interface ParseParamsOptions {
  /**
   * Accept fields the format does not define. Off by default: a field we do not understand might
   * change what a version means, and a typo (e.g. `cap_heigth`) would silently drop a rule.
   */
  readonly allowUnknownFields?: boolean;
}

const VERSION_FIELDS = new Set([
  'version',
  'activation_height',
  'staking_cap',
  'cap_height',
  'tag',
  'covenant_pks',
  'covenant_quorum',
  'unbonding_time',
  'unbonding_fee',
  'max_staking_amount',
  'min_staking_amount',
  'max_staking_time',
  'min_staking_time',
  'confirmation_depth',
]);

/**
 * Parses and validates a global-parameters document (`{"versions": [...]}`) from JSON text, bytes or
 * an already-parsed value. Enforces every rule of Babylon's `ParseGlobalParams` (§7.2) and the ones
 * it forgot: versions start at 0, covenant keys are unique and compressed, cap_height is not below
 * the activation height and never decreases.
 * @throws {CodedError} a `PARAMS_…` code naming the version and the field.
 */
export function parseGlobalParams(
  input: string | Uint8Array | unknown,
  opts: ParseParamsOptions = {},
): GlobalParams {
  const doc =
    typeof input === 'string' || input instanceof Uint8Array
      ? parseJsonDocument(input, 'global params')
      : input;
  const top = { where: 'global params' };
  if (!isPlainObject(doc)) fail('PARAMS_SHAPE', top, 'expected a JSON object with a "versions" array');
  rejectUnknownFields(doc, new Set(['versions']), top, opts.allowUnknownFields ?? false);
  const raw = doc.versions;
  if (!Array.isArray(raw)) fail('PARAMS_SHAPE', top, '"versions" must be an array');
  if (raw.length === 0) fail('PARAMS_EMPTY', top, 'the versions list is empty');

  const versions: ParamsVersion[] = [];
  raw.forEach((v, i) => {
    versions.push(parseVersion(v, i, opts));
  });
  checkAcrossVersions(versions);
  return Object.freeze({ versions: Object.freeze(versions) });
}

function parseVersion(raw: unknown, index: number, opts: ParseParamsOptions): ParamsVersion {
  const label =
    isPlainObject(raw) && typeof raw.version === 'number' ? `version ${raw.version}` : `#${index}`;
  const ctx: FieldContext = { where: `params ${label} (index ${index})` };
  if (!isPlainObject(raw)) fail('PARAMS_SHAPE', ctx, 'each version must be a JSON object');
  rejectUnknownFields(raw, VERSION_FIELDS, ctx, opts.allowUnknownFields ?? false);

  const version = intField(raw, 'version', ctx, { min: 0, max: UINT32_MAX });
  const activationHeight = intField(raw, 'activation_height', ctx, { min: 1, max: HEIGHT_MAX });
  const stakingCap = intField(raw, 'staking_cap', ctx, { min: 0, max: AMOUNT_MAX }, { optional: true });
  const capHeight = intField(raw, 'cap_height', ctx, { min: 0, max: HEIGHT_MAX }, { optional: true });

  const tagHex = stringField(raw, 'tag', ctx);
  let tag: Uint8Array;
  try {
    tag = parseHex(tagHex, 'tag', 'PARAMS_TAG_INVALID', { bytes: 4 });
  } catch (e) {
    fail(
      'PARAMS_TAG_INVALID',
      ctx,
      `tag ${JSON.stringify(tagHex)} is not 4 bytes of hex (${(e as Error).message})`,
      'tag',
    );
  }

  const pksRaw = raw.covenant_pks;
  if (pksRaw === undefined || pksRaw === null)
    fail('PARAMS_FIELD_MISSING', ctx, 'covenant_pks is missing', 'covenant_pks');
  if (!Array.isArray(pksRaw))
    fail('PARAMS_FIELD_TYPE', ctx, 'covenant_pks must be an array of hex strings', 'covenant_pks');
  if (pksRaw.length === 0) fail('PARAMS_COVENANT_KEYS_EMPTY', ctx, 'covenant_pks is empty', 'covenant_pks');
  const covenantPks = pksRaw.map((pk, i) => {
    const field = `covenant_pks[${i}]`;
    try {
      return parseCompressedKey(pk, field, 'PARAMS_COVENANT_KEY_INVALID');
    } catch (e) {
      if (isCodedError(e)) fail('PARAMS_COVENANT_KEY_INVALID', ctx, e.message, field);
      throw e;
    }
  });
  const covenantKeys = covenantPks.map(xOnlyOf);
  const seen = new Map<string, number>();
  covenantKeys.forEach((k, i) => {
    const hex = toHex(k);
    const prev = seen.get(hex);
    if (prev !== undefined) {
      fail(
        'PARAMS_COVENANT_KEY_DUPLICATE',
        ctx,
        `covenant_pks[${i}] has the same x-only key as covenant_pks[${prev}] (${hex})`,
        `covenant_pks[${i}]`,
      );
    }
    seen.set(hex, i);
  });

  const covenantQuorum = intField(raw, 'covenant_quorum', ctx, { min: 0, max: UINT32_MAX });
  if (covenantQuorum === 0 || covenantQuorum > covenantPks.length) {
    fail(
      'PARAMS_QUORUM_INVALID',
      ctx,
      `covenant_quorum must be in [1, ${covenantPks.length}] (the number of covenant keys), got ${covenantQuorum}`,
      'covenant_quorum',
    );
  }

  const unbondingTime = intField(raw, 'unbonding_time', ctx, { min: 1, max: UINT16_MAX });
  const unbondingFee = intField(raw, 'unbonding_fee', ctx, { min: 1, max: AMOUNT_MAX });
  const maxAmount = intField(raw, 'max_staking_amount', ctx, { min: 1, max: AMOUNT_MAX });
  const minAmount = intField(raw, 'min_staking_amount', ctx, { min: 1, max: AMOUNT_MAX });
  if (maxAmount < minAmount) {
    fail(
      'PARAMS_AMOUNT_ORDER',
      ctx,
      `max_staking_amount ${maxAmount} is below min_staking_amount ${minAmount}`,
      'max_staking_amount',
    );
  }
  if (BigInt(minAmount) < BigInt(unbondingFee) + MIN_UNBONDING_OUTPUT_SAT) {
    fail(
      'PARAMS_MIN_AMOUNT_BELOW_FEE',
      ctx,
      `min_staking_amount ${minAmount} is below unbonding_fee ${unbondingFee} + ${MIN_UNBONDING_OUTPUT_SAT} sat`,
      'min_staking_amount',
    );
  }
  const maxTime = intField(raw, 'max_staking_time', ctx, { min: 1, max: UINT16_MAX });
  const minTime = intField(raw, 'min_staking_time', ctx, { min: 1, max: UINT16_MAX });
  if (maxTime < minTime) {
    fail(
      'PARAMS_STAKING_TIME_ORDER',
      ctx,
      `max_staking_time ${maxTime} is below min_staking_time ${minTime}`,
      'max_staking_time',
    );
  }
  const confirmationDepth = intField(raw, 'confirmation_depth', ctx, { min: 2, max: UINT16_MAX });

  if ((stakingCap === 0) === (capHeight === 0)) {
    fail(
      'PARAMS_CAP_EXCLUSIVE',
      ctx,
      `exactly one of staking_cap (${stakingCap}) and cap_height (${capHeight}) must be non-zero`,
      'staking_cap',
    );
  }
  // Babylon's parser accepts equality (the README says strictly greater): we follow the code.
  if (stakingCap !== 0 && stakingCap < maxAmount) {
    fail(
      'PARAMS_CAP_BELOW_MAX_AMOUNT',
      ctx,
      `staking_cap ${stakingCap} is below max_staking_amount ${maxAmount}`,
      'staking_cap',
    );
  }
  if (capHeight !== 0 && capHeight < activationHeight) {
    fail(
      'PARAMS_CAP_HEIGHT_BEFORE_ACTIVATION',
      ctx,
      `cap_height ${capHeight} is below activation_height ${activationHeight}`,
      'cap_height',
    );
  }

  return Object.freeze({
    version,
    activationHeight,
    stakingCapSat: BigInt(stakingCap),
    capHeight,
    tag,
    tagHex: toHex(tag),
    covenantPks: Object.freeze(covenantPks),
    covenantKeys: Object.freeze(covenantKeys),
    covenantQuorum,
    unbondingTime,
    unbondingFeeSat: BigInt(unbondingFee),
    maxStakingAmountSat: BigInt(maxAmount),
    minStakingAmountSat: BigInt(minAmount),
    maxStakingTime: maxTime,
    minStakingTime: minTime,
    confirmationDepth,
  });
}

function checkAcrossVersions(versions: ParamsVersion[]): void {
  let lastStakingCap = 0n;
  let lastCapHeight = 0;
  versions.forEach((v, i) => {
    const ctx = { where: `params version ${v.version} (index ${i})` };
    // The networks README says versions start at 0; Babylon's parser forgot to check the first.
    const expected = i === 0 ? 0 : versions[i - 1]!.version + 1;
    if (v.version !== expected) {
      fail('PARAMS_VERSION_SEQUENCE', ctx, `version must be ${expected}, got ${v.version}`, 'version');
    }
    if (i > 0 && v.activationHeight <= versions[i - 1]!.activationHeight) {
      fail(
        'PARAMS_ACTIVATION_NOT_INCREASING',
        ctx,
        `activation_height ${v.activationHeight} must be above the previous version's ${versions[i - 1]!.activationHeight}`,
        'activation_height',
      );
    }
    if (v.stakingCapSat !== 0n) {
      if (v.stakingCapSat < lastStakingCap) {
        fail(
          'PARAMS_STAKING_CAP_DECREASING',
          ctx,
          `staking_cap ${v.stakingCapSat} is below an earlier version's staking_cap ${lastStakingCap}`,
          'staking_cap',
        );
      }
      lastStakingCap = v.stakingCapSat;
    }
    if (v.capHeight !== 0) {
      // The README asks for non-decreasing cap heights; Babylon's parser does not check it.
      if (v.capHeight < lastCapHeight) {
        fail(
          'PARAMS_CAP_HEIGHT_DECREASING',
          ctx,
          `cap_height ${v.capHeight} is below an earlier version's cap_height ${lastCapHeight}`,
          'cap_height',
        );
      }
      lastCapHeight = v.capHeight;
    }
  });
}

/**
 * The version in force at a BTC height: the one with the greatest activation_height ≤ height
 * (§7.3), or undefined below the first activation height. Staking txs use their inclusion height;
 * unbonding and withdraw use the staking tx's inclusion height.
 */
export function selectParamsForHeight(params: GlobalParams, height: number): ParamsVersion | undefined {
  const vs = params.versions;
  for (let i = vs.length - 1; i >= 0; i--) {
    if (vs[i]!.activationHeight <= height) return vs[i];
  }
  return undefined;
}

/**
 * As selectParamsForHeight, but a height below the first activation is an error.
 * @throws {CodedError} PARAMS_NO_VERSION_FOR_HEIGHT
 */
export function assertParamsForHeight(params: GlobalParams, height: number): ParamsVersion {
  const v = selectParamsForHeight(params, height);
  if (!v) {
    throw new CodedError(
      'PARAMS_NO_VERSION_FOR_HEIGHT',
      `no params version is active at height ${height}; the first activates at ${params.versions[0]!.activationHeight}`,
      { details: { height } },
    );
  }
  return v;
}

/**
 * The confirmation depth the reference indexer uses for everything: versions[0].confirmation_depth
 * (§9). The covenant signer uses the staking height's own version's depth instead.
 */
export function indexerConfirmationDepth(params: GlobalParams): number {
  return params.versions[0]!.confirmationDepth;
}

/**
 * Whether a block at `inclusionHeight` has `depth` confirmations when the tip is at `tipHeight`:
 * inclusion counts as one confirmation, so tip − h + 1 ≥ depth.
 */
export function isConfirmed(inclusionHeight: number, tipHeight: number, depth: number): boolean {
  return tipHeight - inclusionHeight + 1 >= depth;
}

/** The params versions whose covenant set contains the x-only key. */
export function versionsListingKey(params: GlobalParams, key: Uint8Array): ParamsVersion[] {
  const hex = toHex(key.length === 33 ? key.subarray(1) : key);
  return params.versions.filter((v) => v.covenantKeys.some((k) => toHex(k) === hex));
}

/** Serialises a version back to the reference JSON shape (for the API's /v1/global-params). */
export function paramsVersionToJson(v: ParamsVersion): Record<string, unknown> {
  return {
    version: v.version,
    activation_height: v.activationHeight,
    staking_cap: Number(v.stakingCapSat),
    cap_height: v.capHeight,
    tag: v.tagHex,
    covenant_pks: v.covenantPks.map(toHex),
    covenant_quorum: v.covenantQuorum,
    unbonding_time: v.unbondingTime,
    unbonding_fee: Number(v.unbondingFeeSat),
    max_staking_amount: Number(v.maxStakingAmountSat),
    min_staking_amount: Number(v.minStakingAmountSat),
    max_staking_time: v.maxStakingTime,
    min_staking_time: v.minStakingTime,
    confirmation_depth: v.confirmationDepth,
  };
}
