import type { Transaction } from 'bitcoinjs-lib';
import { hashToTxid, parseXOnlyKey, toHex } from '../common/index.ts';
import { type ActiveStakingEvent, EVENT_TYPE_OF_KIND, type UnsequencedEvent } from '../events/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import {
  buildStakingInfo,
  buildTimelockLeaf,
  buildUnbondingInfo,
  buildUnbondingLeaf,
  classifyStakingOutputSpend,
  classifyStakingTx,
  decodeTransaction,
  isUnbondingTimelockWithdraw,
  type Leaf,
  type StakingInfo,
  type StakingScriptKeys,
  type UnbondingExpectation,
  type UnbondingInfo,
} from '../staking/index.ts';
import { type CandidateTx, candidateTxid, scanBlock } from './rawBlock.ts';
import {
  type Delegation,
  type Expiry,
  hashPrefix,
  prefixOfKey,
  type StateReader,
  type StateWrite,
  stakingOutpointKey,
  txidPrefix,
  unbondingTxKey,
} from './state.ts';

/**
 * The pure core: given the params, one confirmed block and the state before it, the state changes
 * and the events the block produces. No I/O, no clock. The rules are the reference indexer's
 * (backend-services.md §1.4–1.5, staking-protocol.md §4–§9), decided with the staking/ functions.
 */

/** A block as the processor gets it: raw bytes (production) or decoded txs (tests). */
export interface BlockInput {
  readonly height: number;
  readonly hash: string;
  /** Header time, unix seconds. */
  readonly time: number;
  /** The serialized block; the processor scans it and decodes only candidate txs. */
  readonly raw?: Uint8Array;
  /** Or the block's transactions, already decoded (every one is examined). */
  readonly txs?: readonly Transaction[];
  /**
   * With `raw`: its candidates and their staking verdicts, found beforehand (`preScanBlock`, on
   * the fetch thread); the processor then does not walk the block itself.
   */
  readonly prescan?: BlockPrescan;
}

/**
 * What the staking rules say of a transaction, before any state is known: the whole staking
 * check (parse, staking output rebuilt and compared, ranges) is a function of the transaction, the
 * params and the height alone. Only what the processor needs, so that it crosses threads cheaply.
 */
export type StakeVerdict =
  | {
      readonly kind: 'valid';
      readonly txid: string;
      readonly valueSat: number;
      readonly stakingOutputIndex: number;
      readonly stakerKeyHex: string;
      readonly fpKeyHex: string;
      readonly stakingTime: number;
    }
  | { readonly kind: 'rejected'; readonly txid: string; readonly code: string }
  | { readonly kind: 'not-staking' };

function stakeVerdict(
  tx: Transaction,
  params: GlobalParams,
  height: number,
  txid: () => string,
): StakeVerdict {
  const c = classifyStakingTx(tx, params, height);
  switch (c.kind) {
    case 'valid':
      return {
        kind: 'valid',
        txid: txid(),
        valueSat: Number(c.data.valueSat),
        stakingOutputIndex: c.data.stakingOutputIndex,
        stakerKeyHex: toHex(c.data.stakerKey),
        fpKeyHex: toHex(c.data.fpKey),
        stakingTime: c.data.stakingTime,
      };
    case 'invalid':
    case 'malformed':
      return { kind: 'rejected', txid: txid(), code: c.code };
    case 'not-staking':
      return c;
  }
}

/** A block's candidates, found beforehand (see `preScanBlock`). */
export interface BlockPrescan {
  /** Transactions in the block. */
  readonly txCount: number;
  readonly candidates: readonly PrescannedTx[];
}

/** A candidate with the staking verdict made for it; none: not a staking tx. */
export interface PrescannedTx extends CandidateTx {
  readonly stake: Exclude<StakeVerdict, { kind: 'not-staking' }> | undefined;
}

/**
 * The part of deciding a serialized block that needs no state, done ahead of the processor (on
 * the fetch thread, while the main thread decides earlier blocks): the walk that finds the
 * candidates, and the staking verdicts of the tagged ones. A tagged transaction that fails to
 * decode gets no verdict (the processor counts it as it does any undecodable candidate).
 *
 * `maybeTracked` stands in for the state's prefilter, which only the main thread holds: on entry
 * it must hold the prefixes (`hashPrefix`) of every tx hash the state tracks before this block,
 * and the walk adds the hash of every transaction whose outputs the processor may start tracking
 * in this block: each valid stake, and each one-input, one-output transaction that may spend a
 * tracked output (a possible unbonding: `classifyStakingOutputSpend` accepts no other shape).
 * Carried from block to block in order, it stays a superset of the state's prefilter, so every
 * transaction the processor's own walk would hand on is a candidate here too.
 * @throws {CodedError} INDEXER_BAD_BLOCK when the bytes do not parse as a block
 */
export function preScanBlock(
  params: GlobalParams,
  height: number,
  raw: Uint8Array,
  maybeTracked: Set<number>,
): BlockPrescan {
  const tag = selectParamsForHeight(params, height)?.tag;
  const candidates: PrescannedTx[] = [];
  const it = scanBlock(raw, { tag, mayTrack: (buf, off) => maybeTracked.has(hashPrefix(buf, off)) });
  for (;;) {
    const r = it.next();
    if (r.done) return { txCount: r.value, candidates };
    const c = r.value;
    let stake: PrescannedTx['stake'];
    if (c.tagged) {
      let tx: Transaction | undefined;
      try {
        tx = decodeTransaction(c.bytes);
      } catch {
        // No verdict: the processor counts the candidate as undecodable.
      }
      const v = tx && stakeVerdict(tx, params, height, () => candidateTxid(c));
      if (v?.kind === 'valid') maybeTracked.add(txidPrefix(v.txid));
      if (v && v.kind !== 'not-staking') stake = v;
    }
    let txid: string | undefined;
    if (c.spends && c.inputs === 1 && c.outputs === 1) {
      txid = candidateTxid(c);
      maybeTracked.add(txidPrefix(txid));
    }
    candidates.push({ ...c, stake, txid });
  }
}

/**
 * The prescans of one range of blocks, in height order, from the state's filter after the block
 * before the range (`preScanBlock`). A block whose prescan fails (bytes that do not parse) gets
 * none, and neither does any later block of the range: the filter may now miss that block's
 * outputs. Without a prescan, the processor walks the block itself with the state's own filter.
 */
export class RangePrescan {
  readonly #params: GlobalParams;
  #maybeTracked: Set<number> | undefined;

  constructor(params: GlobalParams, tracked: Iterable<number>) {
    this.#params = params;
    this.#maybeTracked = new Set(tracked);
  }

  /** The next block's prescan, or undefined. Never throws. */
  next(height: number, raw: Uint8Array): BlockPrescan | undefined {
    if (!this.#maybeTracked) return undefined;
    try {
      return preScanBlock(this.#params, height, raw, this.#maybeTracked);
    } catch {
      this.#maybeTracked = undefined;
      return undefined;
    }
  }
}

/** Why a transaction was not accepted, for metrics (`tx_type` as the reference's si_invalid_txs_counter). */
export interface Rejection {
  readonly txType:
    | 'confirmed_staking_transaction'
    | 'confirmed_unbonding_transactions'
    | 'confirmed_withdraw_staking_transactions'
    | 'confirmed_withdraw_unbonding_transactions'
    | 'unconfirmed_staking_transaction'
    | 'unconfirmed_unbonding_transactions';
  /** A STAKING_… code, or `UNKNOWN_SPEND`. */
  readonly reason: string;
  readonly txid: string;
  /** The block it was found in (unconfirmed window only). */
  readonly blockHash?: string;
}

export interface BlockStats {
  /** Transactions in the block, and how many were fully decoded. */
  txCount: number;
  decoded: number;
  staking: { active: number; overflow: number };
  unbonding: number;
  withdrawFromStaking: number;
  withdrawFromUnbonding: number;
  expired: number;
  rejections: Rejection[];
  /** Transactions whose processing threw unexpectedly (a bug): skipped, counted, never fatal. */
  failures: number;
}

export interface BlockResult {
  readonly writes: readonly StateWrite[];
  readonly events: readonly UnsequencedEvent[];
  readonly stats: BlockStats;
  /** Confirmed TVL after the block. */
  readonly tvl: number;
}

/** A block's stats before any transaction is counted. */
export function emptyStats(): BlockStats {
  return {
    txCount: 0,
    decoded: 0,
    staking: { active: 0, overflow: 0 },
    unbonding: 0,
    withdrawFromStaking: 0,
    withdrawFromUnbonding: 0,
    expired: 0,
    rejections: [],
    failures: 0,
  };
}

/** Reads through to the base state, holding the block's own changes on top. */
class Overlay implements StateReader {
  readonly writes: StateWrite[] = [];
  readonly #base: StateReader;
  #tvl: number;
  readonly #delegations = new Map<string, Delegation>();
  readonly #keys = new Map<string, string | null>();
  readonly #prefixes = new Set<number>();

  constructor(base: StateReader) {
    this.#base = base;
    this.#tvl = base.confirmedTvl();
  }
  confirmedTvl(): number {
    return this.#tvl;
  }
  delegation(txid: string): Delegation | undefined {
    return this.#delegations.get(txid) ?? this.#base.delegation(txid);
  }
  tracked(key: string): string | undefined {
    const local = this.#keys.get(key);
    if (local === null) return undefined;
    return local ?? this.#base.tracked(key);
  }
  expiriesAt(height: number): readonly Expiry[] {
    return this.#base.expiriesAt(height);
  }
  mayTrack(prefix: number): boolean {
    return this.#prefixes.has(prefix) || this.#base.mayTrack(prefix);
  }
  putDelegation(d: Delegation): void {
    this.#delegations.set(d.stakingTxid, d);
    this.writes.push({ op: 'delegation', value: d });
  }
  track(key: string, stakingTxid: string): void {
    this.#keys.set(key, stakingTxid);
    this.#prefixes.add(prefixOfKey(key));
    this.writes.push({ op: 'track', key, stakingTxid });
  }
  untrack(key: string): void {
    this.#keys.set(key, null);
    this.writes.push({ op: 'untrack', key });
  }
  addExpiry(e: Expiry): void {
    this.writes.push({ op: 'addExpiry', value: e });
  }
  removeExpiry(e: Expiry): void {
    this.writes.push({ op: 'removeExpiry', value: e });
  }
  setTvl(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`confirmed TVL would become ${v}`);
    this.#tvl = v;
    this.writes.push({ op: 'tvl', value: v });
  }
}

/**
 * A transaction worth deciding on, with its bytes (for the events' tx hex), its txid, computed
 * once, and its staking verdict when one was made beforehand. `tx` is decoded on first use: a
 * stake whose verdict came with the block and whose inputs cannot spend a tracked output
 * (`spends` false) is decided without decoding it.
 */
interface BlockTx {
  readonly tx: Transaction;
  readonly bytes: Uint8Array | undefined;
  readonly stake: StakeVerdict | undefined;
  /** Whether an input may spend a tracked output (always true for a decoded block's txs). */
  readonly spends: boolean;
  id(): string;
}

function blockTx(
  decode: () => Transaction,
  candidate: CandidateTx | undefined,
  stake?: StakeVerdict,
): BlockTx {
  let txid = (stake?.kind === 'not-staking' ? undefined : stake?.txid) ?? candidate?.txid;
  let tx: Transaction | undefined;
  return {
    get tx() {
      tx ??= decode();
      return tx;
    },
    bytes: candidate?.bytes,
    stake,
    spends: candidate?.spends ?? true,
    // Called unbound (destructured), so no `this`.
    id() {
      if (txid === undefined && candidate) txid = candidateTxid(candidate);
      if (txid === undefined) {
        tx ??= decode();
        txid = tx.getId();
      }
      return txid;
    },
  };
}

const NOT_STAKING: StakeVerdict = { kind: 'not-staking' };

/** The active delegation a valid stake at `height` creates. */
function delegationOf(
  c: Extract<StakeVerdict, { kind: 'valid' }>,
  height: number,
  version: ParamsVersion,
  isOverflow: boolean,
): Delegation {
  return {
    stakingTxid: c.txid,
    stakingOutputIndex: c.stakingOutputIndex,
    valueSat: c.valueSat,
    stakerKeyHex: c.stakerKeyHex,
    fpKeyHex: c.fpKeyHex,
    stakingTime: c.stakingTime,
    inclusionHeight: height,
    paramsVersion: version.version,
    isOverflow,
    state: 'active',
  };
}

/** The transactions of a block worth decoding. */
function* blockTxs(
  block: BlockInput,
  tag: Uint8Array | undefined,
  state: StateReader,
  stats: BlockStats,
): Generator<BlockTx> {
  if (block.txs) {
    stats.txCount = block.txs.length;
    for (const tx of block.txs) {
      stats.decoded++;
      yield blockTx(() => tx, undefined);
    }
    return;
  }
  if (block.prescan) {
    stats.txCount = block.prescan.txCount;
    for (const c of block.prescan.candidates) {
      const btx = candidateTx(c, c.stake ?? NOT_STAKING, stats);
      if (btx) yield btx;
    }
    return;
  }
  const it = scanBlock(block.raw!, { tag, mayTrack: (buf, off) => state.mayTrack(hashPrefix(buf, off)) });
  for (;;) {
    const r = it.next();
    if (r.done) {
      stats.txCount = r.value;
      return;
    }
    const btx = candidateTx(r.value, undefined, stats);
    if (btx) yield btx;
  }
}

/**
 * A candidate to decide, with its verdict when one was made beforehand; undefined (counted as a
 * failure) when its bytes do not decode.
 */
function candidateTx(
  c: CandidateTx,
  stake: StakeVerdict | undefined,
  stats: BlockStats,
): BlockTx | undefined {
  stats.decoded++;
  if (stake && stake.kind !== 'not-staking' && !c.spends) {
    // Decided beforehand, on bytes that decoded: nothing here needs its fields.
    return blockTx(() => decodeTransaction(c.bytes), c, stake);
  }
  let tx: Transaction;
  try {
    tx = decodeTransaction(c.bytes);
  } catch {
    // The walk parsed it, so this cannot happen with a node's block; never stop on it.
    stats.failures++;
    return undefined;
  }
  return blockTx(() => tx, c, stake);
}

/** The tx's hex: from its bytes in the block when it has them, else re-serialized. */
function txHex(bytes: Uint8Array | undefined, tx: () => Transaction): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') : tx().toHex();
}

/** Overflow (staking-protocol.md §8): height cap → h > cap_height; value cap → TVL before ≥ cap. */
export function isOverflow(version: ParamsVersion, height: number, tvlBefore: number): boolean {
  if (version.capHeight !== 0) return height > version.capHeight;
  return BigInt(tvlBefore) >= version.stakingCapSat;
}

/** What recognising spends of a stored delegation needs, rebuilt under the params of its staking height. */
export interface SpendRules {
  readonly exp: UnbondingExpectation;
  readonly stakingTimelockLeaf: Leaf;
  readonly unbondingTimelockLeaf: Leaf;
}

/**
 * The unbonding expectation and the two timelock leaves of a stored delegation, under the params
 * of its staking height, from the staking/ builders. Lazily: the leaf scripts (all that recognising
 * a withdraw or the unbonding leaf needs) cost no EC operation; the taproot outputs (one EC tweak
 * each) are built only when a check reads them — the unbonding output only for a tx that reveals
 * the unbonding leaf. Undefined when no version applies or the value cannot pay the unbonding fee.
 */
export function expectationOf(d: Delegation, params: GlobalParams): SpendRules | undefined {
  const v = selectParamsForHeight(params, d.inclusionHeight);
  if (!v) return undefined;
  const valueSat = BigInt(d.valueSat);
  if (valueSat - v.unbondingFeeSat <= 0n) return undefined;
  // Checked when the stake was identified; again here, from the store, at a cached lookup's cost.
  const stakerKey = parseXOnlyKey(d.stakerKeyHex, 'stakerKey', 'INDEXER_STORE_UNAVAILABLE');
  const fpKey = parseXOnlyKey(d.fpKeyHex, 'fpKey', 'INDEXER_STORE_UNAVAILABLE');
  const keys: StakingScriptKeys = {
    stakerKey,
    fpKeys: [fpKey],
    covenantKeys: v.covenantKeys,
    covenantQuorum: v.covenantQuorum,
  };
  const lazy = new LazyInfos(d, v, keys);
  const exp: UnbondingExpectation = {
    stakingTxid: d.stakingTxid,
    stakingOutputIndex: d.stakingOutputIndex,
    stakingValueSat: valueSat,
    unbondingLeafScript: buildUnbondingLeaf(stakerKey, v.covenantKeys, v.covenantQuorum),
    unbondingValueSat: valueSat - v.unbondingFeeSat,
    unbondingFeeSat: v.unbondingFeeSat,
    get stakingPkScript() {
      return lazy.staking().pkScript;
    },
    get unbondingLeafHash() {
      return lazy.staking().unbonding.leafHash;
    },
    get unbondingInfo() {
      return lazy.unbonding();
    },
  };
  return {
    exp,
    stakingTimelockLeaf: lazyLeaf(
      buildTimelockLeaf(stakerKey, d.stakingTime, true),
      () => lazy.staking().timelock,
    ),
    unbondingTimelockLeaf: lazyLeaf(
      buildTimelockLeaf(stakerKey, v.unbondingTime),
      () => lazy.unbonding().timelock,
    ),
  };
}

/**
 * The costly parts of a delegation's spend rules, each built on first use. A class rather than
 * closures in `expectationOf`: the services run under tsx, whose transform names every closure
 * assigned to a variable with a defineProperty call, per call.
 */
class LazyInfos {
  #staking: StakingInfo | undefined;
  #unbonding: UnbondingInfo | undefined;
  readonly #d: Delegation;
  readonly #v: ParamsVersion;
  readonly #keys: StakingScriptKeys;

  constructor(d: Delegation, v: ParamsVersion, keys: StakingScriptKeys) {
    this.#d = d;
    this.#v = v;
    this.#keys = keys;
  }
  staking(): StakingInfo {
    this.#staking ??= buildStakingInfo(this.#keys, this.#d.stakingTime, { allowZeroTimelock: true });
    return this.#staking;
  }
  unbonding(): UnbondingInfo {
    this.#unbonding ??= buildUnbondingInfo(this.#keys, this.#v.unbondingTime);
    return this.#unbonding;
  }
}

/** A leaf whose script is known now and whose hash and control block come from `leaf` on first read. */
function lazyLeaf(script: Uint8Array, leaf: () => Leaf): Leaf {
  return {
    script,
    get leafHash() {
      return leaf().leafHash;
    },
    get controlBlock() {
      return leaf().controlBlock;
    },
  };
}

/**
 * Processes one confirmed block. In order: the expiries the block's height reaches (so that an
 * `expired` precedes a withdraw in the same block), then each transaction in block order: first
 * as a possible staking tx (params by this height), then each input as a possible spend of a
 * tracked staking output (unbonding, or withdraw through the timelock leaf) or of a tracked
 * unbonding output (withdraw through the unbonding timelock leaf); params for spends are those of
 * the staking tx's height. Never throws on chain data.
 */
export function processBlock(params: GlobalParams, block: BlockInput, base: StateReader): BlockResult {
  const st = new Overlay(base);
  const stats = emptyStats();
  const events: UnsequencedEvent[] = [];
  const h = block.height;

  // 1. Expiry: the confirmed height reaches start height + timelock (see README, "Expiry").
  for (const e of base.expiriesAt(h)) {
    st.removeExpiry(e);
    const d = st.delegation(e.stakingTxid);
    if (!d) continue;
    if (e.type === 'active' && d.state === 'active' && !d.expiredActive) {
      st.putDelegation({ ...d, expiredActive: true });
    } else if (e.type === 'unbonding' && d.state === 'unbonding' && !d.expiredUnbonding) {
      st.putDelegation({ ...d, expiredUnbonding: true });
    } else {
      continue;
    }
    stats.expired++;
    events.push({
      event_type: EVENT_TYPE_OF_KIND.expired,
      event_id: `${d.stakingTxid}:expired:${e.type}`,
      staking_tx_hash_hex: d.stakingTxid,
      tx_type: e.type,
      expire_height: h,
    });
  }

  // 2. Transactions.
  const version = selectParamsForHeight(params, h);
  for (const btx of blockTxs(block, version?.tag, st, stats)) {
    try {
      processTx(params, st, version, btx, block, events, stats);
    } catch {
      stats.failures++;
    }
  }
  return { writes: st.writes, events, stats, tvl: st.confirmedTvl() };
}

function processTx(
  params: GlobalParams,
  st: Overlay,
  version: ParamsVersion | undefined,
  btx: BlockTx,
  block: BlockInput,
  events: UnsequencedEvent[],
  stats: BlockStats,
): void {
  const h = block.height;
  const { stake, id } = btx;
  const c = stake ?? stakeVerdict(btx.tx, params, h, id);
  if (c.kind === 'valid' && version) {
    const stakingTxid = c.txid;
    if (!st.delegation(stakingTxid)) {
      const overflow = isOverflow(version, h, st.confirmedTvl());
      st.putDelegation(delegationOf(c, h, version, overflow));
      st.track(stakingOutpointKey(stakingTxid, c.stakingOutputIndex), stakingTxid);
      st.addExpiry({ height: h + c.stakingTime, stakingTxid, type: 'active' });
      if (!overflow) st.setTvl(st.confirmedTvl() + c.valueSat);
      if (overflow) stats.staking.overflow++;
      else stats.staking.active++;
      const ev: Omit<ActiveStakingEvent, 'sequence'> = {
        event_type: EVENT_TYPE_OF_KIND.active,
        event_id: `${stakingTxid}:active`,
        staking_tx_hash_hex: stakingTxid,
        staker_pk_hex: c.stakerKeyHex,
        finality_provider_pk_hex: c.fpKeyHex,
        staking_value: c.valueSat,
        staking_start_height: h,
        staking_start_timestamp: block.time,
        staking_timelock: c.stakingTime,
        staking_output_index: c.stakingOutputIndex,
        staking_tx_hex: txHex(btx.bytes, () => btx.tx),
        is_overflow: overflow,
      };
      events.push(ev);
    }
  } else if (c.kind === 'rejected') {
    stats.rejections.push({ txType: 'confirmed_staking_transaction', reason: c.code, txid: c.txid });
  }

  // A tx can be a staking tx and a spend of older stakes at once: look at the inputs whenever one
  // may spend a tracked output.
  if (!btx.spends) return;
  const { tx, bytes } = btx;
  tx.ins.forEach((input, i) => {
    if (!st.mayTrack(hashPrefix(input.hash, 0))) return;
    const prevTxid = hashToTxid(input.hash);
    const sKey = stakingOutpointKey(prevTxid, input.index);
    const fromStaking = st.tracked(sKey);
    if (fromStaking !== undefined) {
      spendOfStakingOutput(params, st, tx, i, fromStaking, sKey, h, block.time, bytes, id, events, stats);
      return;
    }
    const uKey = unbondingTxKey(prevTxid);
    const fromUnbonding = st.tracked(uKey);
    if (fromUnbonding !== undefined) {
      spendOfUnbondingOutput(params, st, tx, i, fromUnbonding, uKey, h, id, events, stats);
    }
  });
}

/**
 * The delegation whose tracked output (`key`) an input spends, with its spend rules. The output is
 * untracked whatever the spend turns out to be: it can never be spent again.
 */
function spentDelegation(
  params: GlobalParams,
  st: Overlay,
  stakingTxid: string,
  key: string,
): { readonly d: Delegation; readonly e: SpendRules } | undefined {
  st.untrack(key);
  const d = st.delegation(stakingTxid);
  const e = d && expectationOf(d, params);
  return d && e ? { d, e } : undefined;
}

/** Delegation `d` withdrawn by tx `txid` at height `h`, from its staking or its unbonding output. */
function withdraw(
  st: Overlay,
  d: Delegation,
  h: number,
  txid: string,
  from: 'staking' | 'unbonding',
  events: UnsequencedEvent[],
): void {
  st.putDelegation({ ...d, state: 'withdrawn' });
  events.push({
    event_type: EVENT_TYPE_OF_KIND.withdraw,
    event_id: `${d.stakingTxid}:withdraw`,
    staking_tx_hash_hex: d.stakingTxid,
    withdraw_tx_hash_hex: txid,
    withdraw_tx_btc_height: h,
    withdraw_from: from,
  });
}

function spendOfStakingOutput(
  params: GlobalParams,
  st: Overlay,
  tx: Transaction,
  inputIndex: number,
  stakingTxid: string,
  key: string,
  h: number,
  time: number,
  bytes: Uint8Array | undefined,
  id: () => string,
  events: UnsequencedEvent[],
  stats: BlockStats,
): void {
  const spent = spentDelegation(params, st, stakingTxid, key);
  if (!spent) return;
  const { d, e } = spent;
  const spend = classifyStakingOutputSpend(tx, inputIndex, e.exp, e.stakingTimelockLeaf);
  switch (spend.kind) {
    case 'unbonding': {
      const v = selectParamsForHeight(params, d.inclusionHeight)!;
      const unbondingTxid = id();
      st.putDelegation({
        ...d,
        state: 'unbonding',
        unbondingTxid,
        unbondingHeight: h,
        unbondingTime: v.unbondingTime,
      });
      st.track(unbondingTxKey(unbondingTxid), stakingTxid);
      st.addExpiry({ height: h + v.unbondingTime, stakingTxid, type: 'unbonding' });
      // Only an active (not overflow) stake ever counted in the TVL (§8).
      if (!d.isOverflow) st.setTvl(st.confirmedTvl() - d.valueSat);
      stats.unbonding++;
      events.push({
        event_type: EVENT_TYPE_OF_KIND.unbonding,
        event_id: `${stakingTxid}:unbonding`,
        staking_tx_hash_hex: stakingTxid,
        unbonding_start_height: h,
        unbonding_start_timestamp: time,
        unbonding_timelock: v.unbondingTime,
        unbonding_output_index: 0,
        unbonding_tx_hex: txHex(bytes, () => tx),
        unbonding_tx_hash_hex: unbondingTxid,
      });
      return;
    }
    case 'withdraw':
      withdraw(st, d, h, id(), 'staking', events);
      stats.withdrawFromStaking++;
      return;
    case 'invalid-unbonding':
      stats.rejections.push({ txType: 'confirmed_unbonding_transactions', reason: spend.code, txid: id() });
      return;
    case 'unknown-spend':
      stats.rejections.push({
        txType: 'confirmed_withdraw_staking_transactions',
        reason: 'UNKNOWN_SPEND',
        txid: id(),
      });
      return;
  }
}

function spendOfUnbondingOutput(
  params: GlobalParams,
  st: Overlay,
  tx: Transaction,
  inputIndex: number,
  stakingTxid: string,
  key: string,
  h: number,
  id: () => string,
  events: UnsequencedEvent[],
  stats: BlockStats,
): void {
  const spent = spentDelegation(params, st, stakingTxid, key);
  if (!spent) return;
  if (isUnbondingTimelockWithdraw(tx, inputIndex, spent.e.unbondingTimelockLeaf)) {
    withdraw(st, spent.d, h, id(), 'unbonding', events);
    stats.withdrawFromUnbonding++;
  } else {
    stats.rejections.push({
      txType: 'confirmed_withdraw_unbonding_transactions',
      reason: 'UNKNOWN_SPEND',
      txid: id(),
    });
  }
}

/** What the unconfirmed window adds to the confirmed TVL (backend-services.md §1.6). */
export interface WindowResult {
  readonly unconfirmedTvl: number;
  readonly rejections: readonly Rejection[];
}

/**
 * Unconfirmed TVL over the blocks of the unconfirmed window (the last depth−1), in order:
 * confirmed TVL + the value of every valid staking tx in the window, ignoring the cap, − the value
 * of stakes unbonded in the window (confirmed active stakes, and window stakes). Nothing is
 * written; the result can be below the confirmed TVL, never below 0.
 */
export function computeUnconfirmedTvl(
  params: GlobalParams,
  window: readonly BlockInput[],
  base: StateReader,
): WindowResult {
  const st = new Overlay(base);
  const rejections: Rejection[] = [];
  let delta = 0;
  const windowStakes = new Map<string, Delegation>();
  for (const block of window) {
    const h = block.height;
    const version = selectParamsForHeight(params, h);
    const stats = emptyStats();
    for (const { tx, stake, id } of blockTxs(block, version?.tag, st, stats)) {
      const c = stake ?? stakeVerdict(tx, params, h, id);
      if (c.kind === 'valid' && version) {
        const stakingTxid = c.txid;
        if (!st.delegation(stakingTxid) && !windowStakes.has(stakingTxid)) {
          const d = delegationOf(c, h, version, false);
          windowStakes.set(stakingTxid, d);
          st.track(stakingOutpointKey(stakingTxid, d.stakingOutputIndex), stakingTxid);
          delta += d.valueSat;
        }
      } else if (c.kind === 'rejected') {
        rejections.push({
          txType: 'unconfirmed_staking_transaction',
          reason: c.code,
          txid: c.txid,
          blockHash: block.hash,
        });
      }
      tx.ins.forEach((input, i) => {
        if (!st.mayTrack(hashPrefix(input.hash, 0))) return;
        const key = stakingOutpointKey(hashToTxid(input.hash), input.index);
        const stakingTxid = st.tracked(key);
        if (stakingTxid === undefined) return;
        const d = windowStakes.get(stakingTxid) ?? st.delegation(stakingTxid);
        const e = d && expectationOf(d, params);
        if (!d || !e || d.state !== 'active') return;
        st.untrack(key);
        const spend = classifyStakingOutputSpend(tx, i, e.exp, e.stakingTimelockLeaf);
        if (spend.kind === 'unbonding') {
          if (!d.isOverflow) delta -= d.valueSat;
        } else if (spend.kind === 'invalid-unbonding') {
          rejections.push({
            txType: 'unconfirmed_unbonding_transactions',
            reason: spend.code,
            txid: id(),
            blockHash: block.hash,
          });
        }
      });
    }
  }
  return { unconfirmedTvl: Math.max(0, base.confirmedTvl() + delta), rejections };
}
