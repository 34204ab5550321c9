import { type Delegation, type Expiry, prefixOfKey, type StateReader, type StateWrite } from './state.ts';

/** Reads through to the base state, holding the block's own changes on top. */
export class Overlay implements StateReader {
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
