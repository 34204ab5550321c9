import { CodedError, concatBytes, type XOnlyKey, xOnlyKeyOrUndefined } from '../common/index.ts';

/** v0 OP_RETURN payload: tag(4) ‖ version(1) ‖ staker(32) ‖ fp(32) ‖ staking time (uint16 BE). */
export const V0_PAYLOAD_BYTES = 71;
/** The whole pkScript: OP_RETURN OP_DATA_71 ‖ payload. */
export const V0_OP_RETURN_SCRIPT_BYTES = 73;
const OP_RETURN = 0x6a;
const OP_PUSHDATA4 = 0x4e;
const MAX_DATA_CARRIER = 80;

export interface V0OpReturnData {
  readonly tag: Uint8Array;
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly stakingTime: number;
}

/**
 * Builds the v0 OP_RETURN pkScript (`6a 47 <71 bytes>`, staking-protocol.md §4.2). The staking
 * time is big-endian here, unlike the little-endian script number in the timelock leaf.
 */
export function buildV0OpReturn(d: V0OpReturnData): Uint8Array {
  if (d.tag.length !== 4) throw new CodedError('STAKING_INVALID_ARGUMENT', 'tag must be 4 bytes');
  if (!Number.isInteger(d.stakingTime) || d.stakingTime < 0 || d.stakingTime > 0xffff) {
    throw new CodedError('STAKING_INVALID_ARGUMENT', `staking time must be a uint16, got ${d.stakingTime}`);
  }
  return concatBytes(
    Uint8Array.of(OP_RETURN, V0_PAYLOAD_BYTES),
    d.tag,
    Uint8Array.of(0),
    d.stakerKey,
    d.fpKey,
    Uint8Array.of(d.stakingTime >>> 8, d.stakingTime & 0xff),
  );
}

/**
 * btcd's IsNullData: OP_RETURN followed by exactly one push (any push opcode, minimal or not) of
 * at most 80 bytes, with nothing after it.
 */
function isNullData(s: Uint8Array): boolean {
  if (s.length < 1 || s[0] !== OP_RETURN) return false;
  if (s.length === 1) return true;
  const op = s[1]!;
  let dataLen: number;
  let headerLen: number;
  if ((op >= 0x51 && op <= 0x60) || op === 0x00) {
    dataLen = 0;
    headerLen = 1;
  } else if (op < 0x4c) {
    dataLen = op;
    headerLen = 1;
  } else if (op === 0x4c) {
    if (s.length < 3) return false;
    dataLen = s[2]!;
    headerLen = 2;
  } else if (op === 0x4d) {
    if (s.length < 4) return false;
    dataLen = s[2]! | (s[3]! << 8);
    headerLen = 3;
  } else if (op === OP_PUSHDATA4) {
    if (s.length < 6) return false;
    dataLen = (s[2]! | (s[3]! << 8) | (s[4]! << 16) | (s[5]! << 24)) >>> 0;
    headerLen = 5;
  } else {
    return false;
  }
  return 1 + headerLen + dataLen === s.length && dataLen <= MAX_DATA_CARRIER;
}

/**
 * The 71 "payload" bytes as Babylon reads them (getV0OpReturnBytes): the pkScript must be 73 bytes
 * and null data, and the payload is pkScript[2:]. For `6a 4c 46 <70>` that includes the length
 * byte; we keep the reference's reading, since identification must match it exactly.
 */
export function v0OpReturnPayload(pkScript: Uint8Array): Uint8Array | undefined {
  if (pkScript.length !== V0_OP_RETURN_SCRIPT_BYTES || !isNullData(pkScript)) return undefined;
  return pkScript.subarray(2);
}

/** Cheap pre-filter (IsPossibleV0StakingTx): payload starts with the tag and version byte 0. */
export function isV0OpReturnWithTag(pkScript: Uint8Array, tag: Uint8Array): boolean {
  const p = v0OpReturnPayload(pkScript);
  if (!p) return false;
  return p[0] === tag[0] && p[1] === tag[1] && p[2] === tag[2] && p[3] === tag[3] && p[4] === 0;
}

/**
 * Decodes a v0 OP_RETURN of any tag, or undefined when the output is not one (NewV0OpReturnData
 * FromTxOutput): wrong size, not null data, version ≠ 0, or a key that is not a valid x coordinate.
 */
export function decodeV0OpReturn(pkScript: Uint8Array): V0OpReturnData | undefined {
  const p = v0OpReturnPayload(pkScript);
  if (p?.[4] !== 0) return undefined;
  const stakerKey = xOnlyKeyOrUndefined(p.subarray(5, 37));
  const fpKey = xOnlyKeyOrUndefined(p.subarray(37, 69));
  if (!stakerKey || !fpKey) return undefined;
  return {
    tag: p.slice(0, 4),
    stakerKey,
    fpKey,
    stakingTime: (p[69]! << 8) | p[70]!,
  };
}
