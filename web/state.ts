/**
 * What the page knows, in one object. Each thing read from the API has its own load status, so a
 * section can say "loading", "could not load" or "nothing there" for itself, and one failing route
 * leaves the others' figures on the page.
 */
import { isCodedError } from '../common/index.ts';
import type { GlobalParams } from '../params/index.ts';
import type { BtcInfo, Delegation, FinalityProviderRow, Stats } from './api.ts';
import type { WalletAccount, WalletProvider } from './wallet.ts';

/** Seconds between refreshes: `?refresh=N` (1–300), for tests and busy screens; 10 by default. */
export const REFRESH_MS = (() => {
  // Read through globalThis: the unit tests import the page's modules where there is no location.
  const n = Number(new URLSearchParams(globalThis.location?.search ?? '').get('refresh'));
  return Number.isInteger(n) && n >= 1 && n <= 300 ? n * 1000 : 10_000;
})();

/**
 * `loading`: never answered yet. `ok`: the last read worked. `error`: the last read failed; what an
 * earlier read brought is still shown, with `at` saying how old it is.
 */
export type LoadStatus =
  | { readonly kind: 'loading' }
  | { readonly kind: 'ok'; readonly at: Date }
  | { readonly kind: 'error'; readonly message: string; readonly at?: Date };

export type Source = 'params' | 'btc' | 'stats' | 'fps' | 'delegations' | 'balance';

export interface Pending {
  readonly txid: string;
  readonly valueSat: bigint;
  readonly depth: number;
}

export interface ConnectedWallet {
  readonly provider: WalletProvider;
  readonly account: WalletAccount;
  readonly stakerPkHex: string;
}

export const state = {
  params: undefined as GlobalParams | undefined,
  btc: undefined as BtcInfo | undefined,
  stats: undefined as Stats | undefined,
  fps: [] as FinalityProviderRow[],
  fpNextKey: '',
  /** Whether the person loaded providers beyond the first page. */
  fpMorePages: false,
  fp: undefined as FinalityProviderRow | undefined,
  wallet: undefined as ConnectedWallet | undefined,
  delegations: [] as Delegation[],
  /** Pagination keys of the pages before the current one, and the current one's. */
  delKeys: [''] as string[],
  delNextKey: '',
  /** Sum of the staker's stakes that still lock coins (every page, not just the one shown). */
  stakedSat: undefined as bigint | undefined,
  /** The wallet's coins at its address; undefined for a wallet that does not list them. */
  balanceSat: undefined as bigint | undefined,
  pending: new Map<string, Pending>(),
  busy: false,
  load: {
    params: { kind: 'loading' },
    btc: { kind: 'loading' },
    stats: { kind: 'loading' },
    fps: { kind: 'loading' },
    delegations: { kind: 'loading' },
    balance: { kind: 'loading' },
  } as Record<Source, LoadStatus>,
};

export function markOk(s: Source): void {
  state.load[s] = { kind: 'ok', at: new Date() };
}

export function markFailed(s: Source, e: unknown): void {
  const prev = state.load[s];
  const at = prev.kind === 'ok' ? prev.at : prev.kind === 'error' ? prev.at : undefined;
  state.load[s] = { kind: 'error', message: errorText(e), ...(at ? { at } : {}) };
}

/** A failure as the sentence a person reads: ours as written, anything else marked unexpected. */
export function errorText(e: unknown): string {
  if (isCodedError(e)) return e.message;
  return e instanceof Error ? `Unexpected error: ${e.message}` : `Unexpected error: ${String(e)}`;
}
