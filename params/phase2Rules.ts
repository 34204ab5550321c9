import { CodedError } from '../common/index.ts';

/*
 * The arithmetic the phase-2 params imply, shared by the params check (a non-dust minimum slashing
 * output) and staking/'s slashing transactions, so both apply the same numbers. Section numbers
 * refer to ../shared/reference/phase2-covenant.md.
 */

/** A cosmos LegacyDec with 18 decimals, as the chain's REST prints it ("0.050000000000000000"). */
const DECIMAL_RE = /^(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,18}))?$/;
const DECIMALS = 18;

/** A validated slashing rate: 0 < rate < 1 with at most 4 decimal places (IsSlashingRateValid). */
export interface SlashingRate {
  /** The decimal as given, e.g. "0.050000000000000000". */
  readonly decimal: string;
  /** rate × 10000, an integer in [1, 9999]. */
  readonly basisPoints: number;
  /**
   * The float64 the chain multiplies with: Go's `LegacyDec.Float64()` = ParseFloat(String()), the
   * correctly rounded double of the decimal, which `Number()` also gives (§1.3).
   */
  readonly float64: number;
}

/**
 * The exact value of a LegacyDec string as an integer count of 10^-18, or undefined when the
 * string is not a plain non-negative decimal with at most 18 decimals.
 */
export function decimalAtto(value: string): bigint | undefined {
  const m = DECIMAL_RE.exec(value);
  if (!m) return undefined;
  return BigInt(m[1]!) * 10n ** BigInt(DECIMALS) + BigInt((m[2] ?? '').padEnd(DECIMALS, '0'));
}

/**
 * Parses a slashing rate as Babylon validates it: a decimal strictly between 0 and 1 whose value
 * times 10000 is an integer (babylon btcstaking/types.go:530-545, §1.2 S2). The rate is kept with
 * the float64 the chain actually multiplies with.
 * @throws {CodedError} `code` when the string is not a decimal or the rate is out of range.
 */
export function parseSlashingRate<C extends string>(value: unknown, code: C): SlashingRate {
  const atto = typeof value === 'string' ? decimalAtto(value) : undefined;
  if (atto === undefined) {
    throw new CodedError(code, 'slashing_rate must be a decimal string with at most 18 decimals');
  }
  const unit = 10n ** BigInt(DECIMALS);
  const step = unit / 10000n;
  if (atto <= 0n || atto >= unit || atto % step !== 0n) {
    throw new CodedError(
      code,
      `slashing_rate ${JSON.stringify(value)} must be strictly between 0 and 1 with at most 4 decimal places`,
    );
  }
  return Object.freeze({
    decimal: value as string,
    basisPoints: Number(atto / step),
    float64: Number(value),
  });
}

/**
 * The least amount a slashing tx must pay to slashing_pk_script: Go's
 * `btcutil.Amount(V).MulF64(rate)` = `Amount(float64(V) × rate + 0.5)`, i.e. half-up on the
 * float64 product, truncated toward zero (btcd btcutil/amount.go:62-67, 131-133; §1.3). Not the
 * exact decimal product: 25000 × 0.0003 gives 7 (the double product is 7.499999999999999).
 * @throws {CodedError} PARAMS_INTEGER_RANGE when the value is negative or beyond 2^53 − 1
 */
export function slashingAmountSat(valueSat: bigint, rate: SlashingRate): bigint {
  if (valueSat < 0n || valueSat > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CodedError('PARAMS_INTEGER_RANGE', `value ${valueSat} sat is outside [0, 2^53 - 1]`);
  }
  const product = Number(valueSat) * rate.float64;
  // Go's round() for a non-negative f: Amount(f + 0.5), the float64 sum truncated toward zero.
  return BigInt(Math.trunc(product + 0.5));
}

/** OP_RETURN: outputs starting with it may be dust (babylon btcstaking/staking.go isOPReturn). */
export function isOpReturnScript(pkScript: Uint8Array): boolean {
  return pkScript.length > 0 && pkScript[0] === 0x6a;
}

const MAX_SCRIPT_SIZE = 10_000;

/** btcd checkScriptParses: every push has all its bytes. */
function scriptParses(s: Uint8Array): boolean {
  let i = 0;
  while (i < s.length) {
    const op = s[i]!;
    i += 1;
    let len = 0;
    if (op >= 0x01 && op <= 0x4b) len = op;
    else if (op === 0x4c || op === 0x4d || op === 0x4e) {
      const n = op === 0x4c ? 1 : op === 0x4d ? 2 : 4;
      if (i + n > s.length) return false;
      for (let k = n - 1; k >= 0; k--) len = len * 256 + s[i + k]!;
      i += n;
    }
    if (i + len > s.length) return false;
    i += len;
  }
  return true;
}

/** btcd IsWitnessProgram: OP_0..OP_16 then one direct push of 2..40 bytes, 4..42 bytes in all. */
function isWitnessProgram(s: Uint8Array): boolean {
  if (s.length < 4 || s.length > 42) return false;
  const v = s[0]!;
  if (v !== 0x00 && (v < 0x51 || v > 0x60)) return false;
  return s[1]! >= 2 && s[1]! <= 40 && s[1]! + 2 === s.length;
}

function compactSizeLength(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

/**
 * btcd `mempool.IsDust(out, DefaultMinRelayTxFee = 1000 sat/kvB)` (btcsuite/btcd@cc26860:
 * mempool/policy.go:242-276; §1.5): an unspendable script (OP_RETURN first, over 10,000 bytes, or
 * a truncated push) is dust; otherwise threshold = 3 × (8 + varint + script + 41 + (witness
 * program ? 26 : 107)) and the output is dust iff value × 1000 / threshold < 1000 (integer
 * division). P2TR and P2WSH: dust below 330 sat; P2WPKH below 294; P2SH 540; P2PKH 546.
 */
export function isDustOutput(valueSat: bigint, pkScript: Uint8Array): boolean {
  if (isOpReturnScript(pkScript) || pkScript.length > MAX_SCRIPT_SIZE || !scriptParses(pkScript)) return true;
  const size =
    8 + compactSizeLength(pkScript.length) + pkScript.length + 41 + (isWitnessProgram(pkScript) ? 26 : 107);
  return (valueSat * 1000n) / (3n * BigInt(size)) < 1000n;
}
