import { opcodes, script } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, compareBytes, concatBytes, toHex, type XOnlyKey } from '../common/index.ts';

/**
 * Tapscript leaves of Babylon's phase-1 staking and unbonding outputs (staking-protocol.md §2;
 * babylon btcstaking/scripts_utils.go). Keys are x-only; numbers use minimal script-number
 * encoding (bitcoinjs `script.compile` turns 1..16 into OP_1..OP_16, as Go's AddInt64 does).
 *
 * Every staking, unbonding and withdraw decision rebuilds these leaves, and the covenant multisig
 * is the same for every stake of a params version. A compiled script is the concatenation of its
 * chunks' encodings, so each leaf is assembled from fragments: the covenant multisig and the
 * number pushes are compiled once and kept; a 32-byte key check is OP_PUSHBYTES_32 ‖ key ‖ op.
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

const OP_PUSHBYTES_32 = 0x20;

/** `<key> OP_CHECKSIGVERIFY` or `<key> OP_CHECKSIG`. */
function singleKey(key: XOnlyKey, verify: boolean): Uint8Array {
  const op = verify ? opcodes.OP_CHECKSIGVERIFY : opcodes.OP_CHECKSIG;
  if (key.length !== 32) return script.compile([key, op]);
  const out = new Uint8Array(34);
  out[0] = OP_PUSHBYTES_32;
  out.set(key, 1);
  out[33] = op;
  return out;
}

const numberPushes = new Map<number, Uint8Array>();

/** The minimal push of a script number (`n` is a timelock or a threshold: at most 65535). */
function numberPush(n: number): Uint8Array {
  let push = numberPushes.get(n);
  if (!push) {
    push = script.compile([script.number.encode(n)]);
    numberPushes.set(n, push);
  }
  return push;
}

// Per key list (the params' frozen covenant lists in practice), per threshold and verify flag.
const multisigs = new WeakMap<readonly XOnlyKey[], Map<number, Uint8Array>>();

/**
 * Babylon's multisig fragment. One key: a plain single-key check and the threshold is ignored
 * (vector #1). Two or more: keys sorted ascending by x-only bytes, CHECKSIG then CHECKSIGADD, then
 * the threshold and NUMEQUAL(VERIFY). Because of NUMEQUAL the quorum is exact, not a minimum.
 */
function multiKey(keys: readonly XOnlyKey[], threshold: number, verify: boolean): Uint8Array {
  if (keys.length === 0)
    throw new CodedError('STAKING_INVALID_ARGUMENT', 'a multisig needs at least one key');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > keys.length) {
    throw new CodedError(
      'STAKING_INVALID_ARGUMENT',
      `multisig threshold must be in [1, ${keys.length}], got ${threshold}`,
    );
  }
  if (keys.length === 1) return singleKey(keys[0]!, verify);
  const slot = threshold * 2 + (verify ? 1 : 0);
  let bySlot = multisigs.get(keys);
  const known = bySlot?.get(slot);
  if (known) return known;
  const sorted = sortKeys(keys);
  for (let i = 1; i < sorted.length; i++) {
    if (compareBytes(sorted[i - 1]!, sorted[i]!) === 0) {
      throw new CodedError('STAKING_DUPLICATE_KEYS', `duplicate key ${toHex(sorted[i]!)} in a multisig`);
    }
  }
  const chunks: Array<Uint8Array | number> = [];
  sorted.forEach((k, i) => {
    chunks.push(k, i === 0 ? opcodes.OP_CHECKSIG : opcodes.OP_CHECKSIGADD);
  });
  chunks.push(script.number.encode(threshold), verify ? opcodes.OP_NUMEQUALVERIFY : opcodes.OP_NUMEQUAL);
  const fragment = script.compile(chunks);
  if (!bySlot) {
    bySlot = new Map();
    multisigs.set(keys, bySlot);
  }
  bySlot.set(slot, fragment);
  return fragment;
}

/** Keys sorted ascending by their 32 bytes (Go bytes.Compare); the order scripts use. */
export function sortKeys(keys: readonly XOnlyKey[]): XOnlyKey[] {
  return [...keys].sort(compareBytes);
}

/**
 * Refuses key sets that are not pairwise distinct (Babylon checkForDuplicateKeys). Compared by
 * value: btc-staking-ts 0.3.0 put Buffers in a Set, which compares by reference and never fires.
 * Every staking and unbonding decision calls this with the params' frozen covenant list, so such a
 * list is checked against itself once; the staker and finality-provider keys are compared with
 * every key at each call, byte by byte (most comparisons end at the first byte).
 * @throws {CodedError} STAKING_DUPLICATE_KEYS
 */
export function assertDistinctKeys(
  stakerKey: XOnlyKey,
  fpKeys: readonly XOnlyKey[],
  covenantKeys: readonly XOnlyKey[],
): void {
  for (let i = 0; i < fpKeys.length; i++) {
    const fp = fpKeys[i]!;
    if (bytesEqual(fp, stakerKey)) duplicateKey(fp);
    for (let j = i + 1; j < fpKeys.length; j++) if (bytesEqual(fp, fpKeys[j]!)) duplicateKey(fp);
  }
  for (const c of covenantKeys) {
    if (bytesEqual(c, stakerKey)) duplicateKey(c);
    for (const fp of fpKeys) if (bytesEqual(c, fp)) duplicateKey(c);
  }
  if (distinctLists.has(covenantKeys)) return;
  for (let i = 0; i < covenantKeys.length; i++) {
    for (let j = i + 1; j < covenantKeys.length; j++) {
      if (bytesEqual(covenantKeys[i]!, covenantKeys[j]!)) duplicateKey(covenantKeys[i]!);
    }
  }
  // Only a frozen list is remembered: another could be changed in place after the check.
  if (Object.isFrozen(covenantKeys)) distinctLists.add(covenantKeys);
}

const distinctLists = new WeakSet<readonly XOnlyKey[]>();

function duplicateKey(key: XOnlyKey): never {
  throw new CodedError(
    'STAKING_DUPLICATE_KEYS',
    `key ${toHex(key)} appears more than once among staker, finality-provider and covenant keys`,
  );
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
  return concatBytes(
    singleKey(stakerKey, true),
    numberPush(timelockBlocks),
    Uint8Array.of(opcodes.OP_CHECKSEQUENCEVERIFY),
  );
}

/** Unbonding leaf: `<S> OP_CHECKSIGVERIFY` ‖ covenant multisig (§2.2 item 2). */
export function buildUnbondingLeaf(
  stakerKey: XOnlyKey,
  covenantKeys: readonly XOnlyKey[],
  quorum: number,
): Uint8Array {
  return concatBytes(singleKey(stakerKey, true), multiKey(covenantKeys, quorum, false));
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
  return concatBytes(
    singleKey(stakerKey, true),
    multiKey(fpKeys, 1, true),
    multiKey(covenantKeys, quorum, false),
  );
}
