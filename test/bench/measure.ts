/** Small helpers shared by the benchmark scripts: timed loops and aligned output. */

export interface Rate {
  readonly label: string;
  readonly ops: number;
  readonly seconds: number;
  readonly perSecond: number;
}

/** Runs `fn` over every item, `rounds` times after one warm-up pass, and returns the best round. */
export function measure<T>(label: string, items: readonly T[], fn: (item: T) => void, rounds = 3): Rate {
  for (const it of items) fn(it);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (const it of items) fn(it);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
  }
  return { label, ops: items.length, seconds: best, perSecond: items.length / best };
}

export function printRates(title: string, rates: readonly Rate[]): void {
  console.log(`\n${title}`);
  for (const r of rates) {
    console.log(
      `  ${r.label.padEnd(58)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(12)} /s  (${r.ops} in ${r.seconds.toFixed(3)} s)`,
    );
  }
}

export function ratio(a: Rate, b: Rate): string {
  return `${a.label} / ${b.label} = ${(a.perSecond / b.perSecond).toFixed(3)}`;
}

/**
 * A bench's last line, `RESULT key=value ...`: the run's own figures, for a script or a person to
 * compare between runs without reading the report above it.
 */
export function printResult(fields: Readonly<Record<string, number>>): void {
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : Number(v.toFixed(3))}`)
    .join(' ');
  console.log(`RESULT ${text}`);
}
