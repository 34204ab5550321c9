import { opcodes, script } from 'bitcoinjs-lib';
import { CodedError, compareBytes, toHex, type XOnlyKey } from '../common/index.ts';

/**
 * Tapscript leaves of Babylon's phase-1 staking and unbonding outputs (staking-protocol.md §2;
 * babylon btcstaking/scripts_utils.go). Keys are x-only; numbers use minimal script-number
 * encoding (bitcoinjs `script.compile` turns 1..16 into OP_1..OP_16, as Go's AddInt64 does).
 */

function assertTimelock(value: number, allowZero: boolean): void {
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(value) || value < min || value > 0xffff) {
    throw new CodedError(
      'STAKING_INVALID_ARGUMENT',
      `timelock must be an integer in [${min}, 65535], got ${value}`,
    );
  }
}

/** `<key> OP_CHECKSIGVERIFY` or `<key> OP_CHECKSIG`. */
function singleKey(key: XOnlyKey, verify: boolean): Array<Uint8Array | number> {
  return [key, verify ? opcodes.OP_CHECKSIGVERIFY : opcodes.OP_CHECKSIG];
}

/**
 * Babylon's multisig fragment. One key: a plain single-key check and the threshold is ignored
 * (vector #1). Two or more: keys sorted ascending by x-only bytes, CHECKSIG then CHECKSIGADD, then
 * the threshold and NUMEQUAL(VERIFY). Because of NUMEQUAL the quorum is exact, not a minimum.
 */
function multiKey(keys: readonly XOnlyKey[], threshold: number, verify: boolean): Array<Uint8Array | number> {
  if (keys.length === 0)
    throw new CodedError('STAKING_INVALID_ARGUMENT', 'a multisig needs at least one key');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > keys.length) {
    throw new CodedError(
      'STAKING_INVALID_ARGUMENT',
      `multisig threshold must be in [1, ${keys.length}], got ${threshold}`,
    );
  }
  if (keys.length === 1) return singleKey(keys[0]!, verify);
  const sorted = sortKeys(keys);
  for (let i = 1; i < sorted.length; i++) {
    if (compareBytes(sorted[i - 1]!, sorted[i]!) === 0) {
      throw new CodedError('STAKING_DUPLICATE_KEYS', `duplicate key ${toHex(sorted[i]!)} in a multisig`);
    }
  }
  const out: Array<Uint8Array | number> = [];
  sorted.forEach((k, i) => {
    out.push(k, i === 0 ? opcodes.OP_CHECKSIG : opcodes.OP_CHECKSIGADD);
  });
  out.push(script.number.encode(threshold), verify ? opcodes.OP_NUMEQUALVERIFY : opcodes.OP_NUMEQUAL);
  return out;
}

/** Keys sorted ascending by their 32 bytes (Go bytes.Compare); the order scripts use. */
export function sortKeys(keys: readonly XOnlyKey[]): XOnlyKey[] {
  return [...keys].sort(compareBytes);
}

/**
 * Refuses key sets that are not pairwise distinct (Babylon checkForDuplicateKeys). Compared by
 * value: btc-staking-ts 0.3.0 put Buffers in a Set, which compares by reference and never fires.
 * @throws {CodedError} STAKING_DUPLICATE_KEYS
 */
export function assertDistinctKeys(
  stakerKey: XOnlyKey,
  fpKeys: readonly XOnlyKey[],
  covenantKeys: readonly XOnlyKey[],
): void {
  const seen = new Set<string>();
  for (const k of [stakerKey, ...fpKeys, ...covenantKeys]) {
    const hex = toHex(k);
    if (seen.has(hex)) {
      throw new CodedError(
        'STAKING_DUPLICATE_KEYS',
        `key ${hex} appears more than once among staker, finality-provider and covenant keys`,
      );
    }
    seen.add(hex);
  }
}

/**
 * Timelock leaf: `<S> OP_CHECKSIGVERIFY <T> OP_CHECKSEQUENCEVERIFY` (§2.2 item 1, §2.3 item 1).
 * A lock of 0 (OP_0: no lock at all) is refused unless `allowZero`, which only identification
 * uses, to rebuild exactly what Go would from an OP_RETURN that says 0.
 */
export function buildTimelockLeaf(
  stakerKey: XOnlyKey,
  timelockBlocks: number,
  allowZero = false,
): Uint8Array {
  assertTimelock(timelockBlocks, allowZero);
  return script.compile([
    ...singleKey(stakerKey, true),
    script.number.encode(timelockBlocks),
    opcodes.OP_CHECKSEQUENCEVERIFY,
  ]);
}

/** Unbonding leaf: `<S> OP_CHECKSIGVERIFY` ‖ covenant multisig (§2.2 item 2). */
export function buildUnbondingLeaf(
  stakerKey: XOnlyKey,
  covenantKeys: readonly XOnlyKey[],
  quorum: number,
): Uint8Array {
  return script.compile([...singleKey(stakerKey, true), ...multiKey(covenantKeys, quorum, false)]);
}

/**
 * Slashing leaf: `<S> OP_CHECKSIGVERIFY` ‖ FP part ‖ covenant multisig (§2.2 item 3). One FP is a
 * plain `<F> OP_CHECKSIGVERIFY`; several (not phase-1, vectors #3 and #5) are a 1-of-n multisig.
 */
export function buildSlashingLeaf(
  stakerKey: XOnlyKey,
  fpKeys: readonly XOnlyKey[],
  covenantKeys: readonly XOnlyKey[],
  quorum: number,
): Uint8Array {
  return script.compile([
    ...singleKey(stakerKey, true),
    ...multiKey(fpKeys, 1, true),
    ...multiKey(covenantKeys, quorum, false),
  ]);
}
