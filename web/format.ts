/** Display helpers of the dashboard: amounts and durations for people. Pure. */

const SAT_PER_BTC = 100_000_000n;

/** Satoshis as an exact BTC decimal without trailing zeros: 150000000 → "1.5 BTC". */
export function formatBtc(sat: bigint | number): string {
  const v = BigInt(sat);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const whole = abs / SAT_PER_BTC;
  const frac = (abs % SAT_PER_BTC).toString().padStart(8, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}${frac ? `.${frac}` : ''} BTC`;
}

/** Bitcoin targets one block per ten minutes; an estimate, never a promise. */
const MINUTES_PER_BLOCK = 10;

/** Blocks as rough wall-clock time: 6 → "~1 h", 150 → "~1 day 1 h", 1 → "~10 min". */
export function approxTime(blocks: number): string {
  if (blocks <= 0) return 'now';
  const minutes = blocks * MINUTES_PER_BLOCK;
  if (minutes < 60) return `~${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 24) return `~${hours} h${rest ? ` ${rest} min` : ''}`;
  const days = Math.floor(hours / 24);
  const h = hours % 24;
  return `~${days} day${days === 1 ? '' : 's'}${h ? ` ${h} h` : ''}`;
}

/** "12 blocks (~2 h)". */
export function blocksAndTime(blocks: number): string {
  return `${blocks} block${blocks === 1 ? '' : 's'} (${approxTime(blocks)})`;
}

/** A long hex value shortened for a table cell: "a1b2c3d4…e5f6". */
export function shortHex(hex: string, keep = 8): string {
  return hex.length <= keep * 2 + 1 ? hex : `${hex.slice(0, keep)}…${hex.slice(-4)}`;
}
