import type { ParamsVersion } from './globalParams.ts';

/**
 * The overflow rule (staking-protocol.md §8): whether a stake confirmed at `height` is overflow
 * under `version`'s cap. A height cap (cap_height ≠ 0): overflow iff height > cap_height (the cap
 * height itself is active). A value cap: overflow iff the confirmed TVL before this stake ≥
 * staking_cap, so the stake that crosses the cap is still active. The indexer decides with it; the
 * dashboard warns with it before anything is signed.
 */
export function isOverflow(
  version: Pick<ParamsVersion, 'capHeight' | 'stakingCapSat'>,
  height: number,
  tvlBeforeSat: bigint,
): boolean {
  if (version.capHeight !== 0) return height > version.capHeight;
  return tvlBeforeSat >= version.stakingCapSat;
}
