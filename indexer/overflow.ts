import type { ParamsVersion } from '../params/index.ts';

/** Overflow (staking-protocol.md §8): height cap → h > cap_height; value cap → TVL before ≥ cap. */
export function isOverflow(version: ParamsVersion, height: number, tvlBefore: number): boolean {
  if (version.capHeight !== 0) return height > version.capHeight;
  return BigInt(tvlBefore) >= version.stakingCapSat;
}
