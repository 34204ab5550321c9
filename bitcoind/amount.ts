import { CodedError } from '../common/index.ts';

/** 21 million BTC in satoshis: Bitcoin's MAX_MONEY, the largest amount any field can hold. */
export const MAX_MONEY_SAT = 2_100_000_000_000_000n;

const SAT_PER_BTC = 100_000_000n;
// What JSON numbers and decimal strings look like, including the exponent form JS prints for small
// numbers (String(0.00000001) === '1e-8').
const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

function badAmount(field: string, rule: string, value: unknown): CodedError {
  return new CodedError('RPC_BAD_AMOUNT', `${field} ${rule}`, { details: { field, value: String(value) } });
}

/**
 * Converts a BTC amount, as bitcoind prints it, to integer satoshis without floating-point arithmetic.
 *
 * bitcoind writes amounts as JSON numbers with exactly 8 decimals. Up to 21 million BTC every such
 * decimal has its own double, and JS prints a double back as the shortest decimal that parses to it,
 * which is then that same decimal (`String(0.1) === '0.1'`, `String(1e-8) === '1e-8'`). So parsing the
 * decimal digits of `String(value)` is exact, where `Math.round(value * 1e8)` is not guaranteed to be.
 *
 * @param value BTC as a JSON number or a decimal string (exponent form allowed).
 * @param opts.field name used in the error message; `allowNegative` accepts amounts below zero
 *   (bitcoind reports sends and fees as negative in wallet listings).
 * @throws {CodedError} `RPC_BAD_AMOUNT` for NaN, infinities, non-decimal strings, more than 8 decimal
 *   places, a negative amount (unless allowed) or more than 21 million BTC.
 * @example btcToSat(0.00012345) === 12345n; btcToSat('21000000') === 2_100_000_000_000_000n
 */
export function btcToSat(
  value: number | string,
  opts: { field?: string; allowNegative?: boolean } = {},
): bigint {
  const field = opts.field ?? 'amount';
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badAmount(field, 'must be a finite number', value);
    // Object.is catches -0, which String() prints as '0' but which is still a negative zero amount.
    text = Object.is(value, -0) ? '0' : String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    throw badAmount(field, 'must be a number or a decimal string', value);
  }

  const m = DECIMAL_RE.exec(text);
  if (!m) throw badAmount(field, 'is not a decimal number', value);
  const negative = m[1] === '-';
  const fraction = m[3] ?? '';
  const exponent = m[4] === undefined ? 0 : Number(m[4]);
  let digits = `${m[2]}${fraction}`.replace(/^0+/, '');
  // The amount is digits × 10^-scale.
  let scale = fraction.length - exponent;
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale--;
  }
  if (digits === '') return 0n;
  if (negative && !opts.allowNegative) throw badAmount(field, 'must not be negative', value);
  if (scale > 8) throw badAmount(field, 'has more than 8 decimal places (1 satoshi = 0.00000001 BTC)', value);
  // Bound the digit count before building a bigint, so '1e999999' costs nothing.
  if (digits.length + 8 - scale > MAX_MONEY_SAT.toString().length) {
    throw badAmount(field, 'exceeds 21 million BTC', value);
  }
  const sat = BigInt(digits) * 10n ** BigInt(8 - scale);
  if (sat > MAX_MONEY_SAT) throw badAmount(field, 'exceeds 21 million BTC', value);
  return negative ? -sat : sat;
}

/**
 * Formats satoshis as a BTC decimal string with exactly 8 decimals, which bitcoind accepts wherever it
 * takes an amount (a string keeps the value exact on the wire).
 * @throws {CodedError} `RPC_BAD_AMOUNT` when `sat` is not a bigint or its magnitude exceeds 21 million BTC.
 * @example satToBtc(1n) === '0.00000001'; satToBtc(-150_000_000n) === '-1.50000000'
 */
export function satToBtc(sat: bigint, field = 'amount'): string {
  if (typeof sat !== 'bigint') throw badAmount(field, 'must be a bigint number of satoshis', sat);
  const abs = sat < 0n ? -sat : sat;
  if (abs > MAX_MONEY_SAT) throw badAmount(field, 'exceeds 21 million BTC', sat);
  const whole = abs / SAT_PER_BTC;
  const frac = (abs % SAT_PER_BTC).toString().padStart(8, '0');
  return `${sat < 0n ? '-' : ''}${whole}.${frac}`;
}
