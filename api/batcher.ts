import {
  type Database,
  type Delegation,
  type DelegationCursor,
  type DelegationState,
  listStakersFirstPages,
} from '../db/index.ts';

type Page = { rows: Delegation[]; next: DelegationCursor | undefined };
interface Waiter {
  resolve(p: Page): void;
  reject(e: unknown): void;
}

/**
 * Batches concurrent first-page requests of /v1/staker/delegations into one query per batch
 * (listStakersFirstPages). A batch leaves at once while fewer than `maxInFlight` batches are
 * running; otherwise requests accumulate until one returns, so the batch size follows the load:
 * one request alone costs one query, as before; under load, one round trip serves many. Pages
 * with a cursor are not batched (they are rarer, and keep their own keyset query).
 */
export class FirstPageBatcher {
  readonly #pending = new Map<string, Map<string, Waiter[]>>();
  #inFlight = 0;
  #scheduled = false;

  constructor(
    readonly db: Database,
    readonly limit: number,
    readonly maxInFlight = 4,
    readonly maxBatch = 64,
  ) {}

  get(stakerPkHex: string, state: DelegationState | undefined): Promise<Page> {
    return new Promise<Page>((resolve, reject) => {
      const key = state ?? '';
      let group = this.#pending.get(key);
      if (!group) {
        group = new Map();
        this.#pending.set(key, group);
      }
      const waiters = group.get(stakerPkHex);
      if (waiters) waiters.push({ resolve, reject });
      else group.set(stakerPkHex, [{ resolve, reject }]);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.maxInFlight) return;
    this.#scheduled = true;
    // Let the requests parsed in this turn of the event loop join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#inFlight < this.maxInFlight && this.#pending.size > 0) {
      const [key, group] = this.#pending.entries().next().value!;
      const batch = new Map<string, Waiter[]>();
      for (const [pk, w] of group) {
        batch.set(pk, w);
        group.delete(pk);
        if (batch.size >= this.maxBatch) break;
      }
      if (group.size === 0) this.#pending.delete(key);
      this.#run(key === '' ? undefined : (key as DelegationState), batch);
    }
  }

  #run(state: DelegationState | undefined, batch: Map<string, Waiter[]>): void {
    this.#inFlight++;
    listStakersFirstPages(this.db, { stakerPkHexes: [...batch.keys()], state, limit: this.limit })
      .then(
        (pages) => {
          for (const [pk, waiters] of batch) {
            const page = pages.get(pk)!;
            for (const w of waiters) w.resolve(page);
          }
        },
        (e: unknown) => {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(e);
        },
      )
      .finally(() => {
        this.#inFlight--;
        if (this.#pending.size > 0) this.#schedule();
      });
  }
}
