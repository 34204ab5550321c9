import { isCodedError, parseXOnlyKey, toHex, type XOnlyKey } from '../common/index.ts';
import { fail, isPlainObject, parseJsonDocument, rejectUnknownFields } from './json.ts';

export interface FinalityProviderDescription {
  readonly moniker: string;
  readonly identity: string;
  readonly website: string;
  readonly securityContact: string;
  readonly details: string;
}

export interface FinalityProvider {
  readonly description: FinalityProviderDescription;
  /** Decimal string as published, e.g. "0.050000000000000000". */
  readonly commission: string;
  readonly btcPk: XOnlyKey;
  readonly btcPkHex: string;
}

// Cosmos-SDK validator description limits, which Babylon's registry inherits.
const DESCRIPTION_LIMITS: Record<string, number> = {
  moniker: 70,
  identity: 3000,
  website: 140,
  security_contact: 140,
  details: 280,
};
const COMMISSION_RE = /^(?:0(?:\.\d{1,18})?|1(?:\.0{1,18})?)$/;

/**
 * Parses the staking API's finality-provider file, `{"finality_providers":[{description, commission,
 * btc_pk}]}` (backend-services.md §3, §7): btc_pk is a valid x-only key and unique, commission is a
 * decimal in [0, 1], description fields are strings within Cosmos limits.
 *
 * Entries in the mainnet registry's form parse too (backend-services.md §7: `bbn-1` names the key
 * `eots_pk`), and an entry without a description gets an empty one, as the reference API shows a
 * provider it has no registry entry for.
 * @throws {CodedError} PARAMS_NOT_JSON, PARAMS_SHAPE, PARAMS_FP_INVALID, PARAMS_FP_DUPLICATE, PARAMS_UNKNOWN_FIELD
 */
export function parseFinalityProviders(
  input: string | Uint8Array | unknown,
  opts: { allowUnknownFields?: boolean } = {},
): readonly FinalityProvider[] {
  const doc =
    typeof input === 'string' || input instanceof Uint8Array
      ? parseJsonDocument(input, 'finality providers')
      : input;
  const top = { where: 'finality providers' };
  if (!isPlainObject(doc) || !Array.isArray(doc.finality_providers)) {
    fail('PARAMS_SHAPE', top, 'expected {"finality_providers": [...]}');
  }
  rejectUnknownFields(doc, new Set(['finality_providers']), top, opts.allowUnknownFields ?? false);
  const seen = new Map<string, number>();
  const out = doc.finality_providers.map((raw: unknown, i: number): FinalityProvider => {
    const ctx = { where: `finality provider #${i}` };
    if (!isPlainObject(raw)) fail('PARAMS_FP_INVALID', ctx, 'each entry must be an object');
    // The two names of one key: an entry giving both would let them disagree.
    const keyField = 'btc_pk' in raw || !('eots_pk' in raw) ? 'btc_pk' : 'eots_pk';
    rejectUnknownFields(
      raw,
      new Set(['description', 'commission', keyField]),
      ctx,
      opts.allowUnknownFields ?? false,
    );
    let btcPk: XOnlyKey;
    try {
      btcPk = parseXOnlyKey(raw[keyField], keyField, 'PARAMS_FP_INVALID');
    } catch (e) {
      if (isCodedError(e)) fail('PARAMS_FP_INVALID', ctx, e.message, keyField);
      throw e;
    }
    const btcPkHex = toHex(btcPk);
    const prev = seen.get(btcPkHex);
    if (prev !== undefined) {
      fail('PARAMS_FP_DUPLICATE', ctx, `${keyField} ${btcPkHex} already appears at #${prev}`, keyField);
    }
    seen.set(btcPkHex, i);
    if (typeof raw.commission !== 'string' || !COMMISSION_RE.test(raw.commission)) {
      fail(
        'PARAMS_FP_INVALID',
        ctx,
        'commission must be a decimal string in [0, 1], e.g. "0.05"',
        'commission',
      );
    }
    const d = raw.description ?? {};
    if (!isPlainObject(d)) fail('PARAMS_FP_INVALID', ctx, 'description must be an object', 'description');
    rejectUnknownFields(d, new Set(Object.keys(DESCRIPTION_LIMITS)), ctx, opts.allowUnknownFields ?? false);
    const text = (field: string): string => {
      const v = d[field] ?? '';
      if (typeof v !== 'string')
        fail('PARAMS_FP_INVALID', ctx, `description.${field} must be a string`, field);
      const limit = DESCRIPTION_LIMITS[field]!;
      if (v.length > limit) {
        fail('PARAMS_FP_INVALID', ctx, `description.${field} is longer than ${limit} characters`, field);
      }
      return v;
    };
    return Object.freeze({
      description: Object.freeze({
        moniker: text('moniker'),
        identity: text('identity'),
        website: text('website'),
        securityContact: text('security_contact'),
        details: text('details'),
      }),
      commission: raw.commission,
      btcPk,
      btcPkHex,
    });
  });
  return Object.freeze(out);
}
