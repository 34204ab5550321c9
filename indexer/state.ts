/**
 * The indexer's state, as the pure block processor sees it: delegations, the outputs it tracks,
 * scheduled expiries and the confirmed TVL. The LMDB store implements StateReader over its
 * databases; MemoryState implements it over maps (tests, and the processor's own overlay).
 */

export type DelegationState = 'active' | 'unbonding' | 'withdrawn';

/** One staking transaction the indexer accepted (active or overflow). Amounts in satoshis. */
export interface Delegation {
  readonly stakingTxid: string;
  readonly stakingOutputIndex: number;
  readonly valueSat: number;
  readonly stakerKeyHex: string;
  readonly fpKeyHex: string;
  readonly stakingTime: number;
  readonly inclusionHeight: number;
  readonly paramsVersion: number;
  readonly isOverflow: boolean;
  readonly state: DelegationState;
  readonly unbondingTxid?: string;
  readonly unbondingHeight?: number;
  readonly unbondingTime?: number;
  /** `expired` events already emitted, by type. */
  readonly expiredActive?: boolean;
  readonly expiredUnbonding?: boolean;
}

export type ExpiryType = 'active' | 'unbonding';

export interface Expiry {
  readonly height: number;
  readonly stakingTxid: string;
  readonly type: ExpiryType;
}

/** Key of a tracked staking output. */
export function stakingOutpointKey(txid: string, vout: number): string {
  return `s:${txid}:${vout}`;
}
/** Key of a tracked unbonding tx (any of its outputs; it has exactly one). */
export function unbondingTxKey(txid: string): string {
  return `u:${txid}`;
}

/**
 * The prefilter's key: the first 30 bits of an internal-order tx hash (bytes 0..3, little-endian,
 * the top two bits of byte 3 dropped). 30 bits, so that it is always a small integer to V8: a full
 * 32-bit value would be boxed as a heap number for three hashes in four, an allocation per input
 * of every transaction the scan walks, and a slower Set lookup.
 */
export function hashPrefix(buf: Uint8Array, offset: number): number {
  return (
    buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | ((buf[offset + 3]! & 0x3f) << 24)
  );
}
/** The same prefix from a display-order txid. */
export function txidPrefix(txid: string): number {
  // Display order is the reverse of internal order: its last 8 hex digits read big-endian are
  // internal bytes 0..3 read little-endian.
  return Number.parseInt(txid.slice(56, 64), 16) & 0x3fffffff;
}

export interface StateReader {
  confirmedTvl(): number;
  delegation(stakingTxid: string): Delegation | undefined;
  /** stakingOutpointKey / unbondingTxKey → the staking txid of the delegation. */
  tracked(key: string): string | undefined;
  expiriesAt(height: number): readonly Expiry[];
  /** Prefilter over tracked tx hashes, by `hashPrefix`: false means certainly not tracked. */
  mayTrack(prefix: number): boolean;
}

export type StateWrite =
  | { readonly op: 'delegation'; readonly value: Delegation }
  | { readonly op: 'track'; readonly key: string; readonly stakingTxid: string }
  | { readonly op: 'untrack'; readonly key: string }
  | { readonly op: 'addExpiry'; readonly value: Expiry }
  | { readonly op: 'removeExpiry'; readonly value: Expiry }
  | { readonly op: 'tvl'; readonly value: number };

/** The prefix of the tx hash a tracked key names. */
export function prefixOfKey(key: string): number {
  return txidPrefix(key.slice(2, 66));
}

/** State in maps. Used by unit tests and to hold the unconfirmed window's view. */
export class MemoryState implements StateReader {
  tvl = 0;
  readonly delegations = new Map<string, Delegation>();
  readonly keys = new Map<string, string>();
  readonly expiries = new Map<number, Expiry[]>();
  readonly prefixes = new Set<number>();

  confirmedTvl(): number {
    return this.tvl;
  }
  delegation(txid: string): Delegation | undefined {
    return this.delegations.get(txid);
  }
  tracked(key: string): string | undefined {
    return this.keys.get(key);
  }
  expiriesAt(height: number): readonly Expiry[] {
    return this.expiries.get(height) ?? [];
  }
  mayTrack(prefix: number): boolean {
    return this.prefixes.has(prefix);
  }

  apply(writes: readonly StateWrite[]): void {
    for (const w of writes) {
      switch (w.op) {
        case 'delegation':
          this.delegations.set(w.value.stakingTxid, w.value);
          break;
        case 'track':
          this.keys.set(w.key, w.stakingTxid);
          this.prefixes.add(prefixOfKey(w.key));
          break;
        case 'untrack':
          this.keys.delete(w.key);
          break;
        case 'addExpiry': {
          const list = this.expiries.get(w.value.height) ?? [];
          list.push(w.value);
          list.sort(compareExpiry);
          this.expiries.set(w.value.height, list);
          break;
        }
        case 'removeExpiry': {
          const list = (this.expiries.get(w.value.height) ?? []).filter(
            (e) => !(e.stakingTxid === w.value.stakingTxid && e.type === w.value.type),
          );
          if (list.length) this.expiries.set(w.value.height, list);
          else this.expiries.delete(w.value.height);
          break;
        }
        case 'tvl':
          this.tvl = w.value;
          break;
        default: {
          const never: never = w;
          throw new Error(`unknown write ${JSON.stringify(never)}`);
        }
      }
    }
  }
}

/** Expiries of one height are handled in this order: by staking txid, then active before unbonding. */
export function compareExpiry(a: Expiry, b: Expiry): number {
  if (a.stakingTxid !== b.stakingTxid) return a.stakingTxid < b.stakingTxid ? -1 : 1;
  return a.type === b.type ? 0 : a.type === 'active' ? -1 : 1;
}
