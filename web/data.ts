/// <reference lib="dom" />
/**
 * Reading the API: each thing on the page is read on its own, so one route failing marks only its
 * own section, and everything read earlier stays on the page until a read replaces it.
 */
import { parseGlobalParams } from '../params/index.ts';
import { api } from './api.ts';
import { $ } from './dom.ts';
import { shortHex } from './format.ts';
import { clearError, notify, showErrorText } from './messages.ts';
import { markFailed, markOk, type Source, state } from './state.ts';

/** States whose coins are still locked in a staking or unbonding output. */
const LOCKED = new Set(['active', 'unbonding_requested', 'unbonding', 'unbonded']);
/** A staker with more delegations than fit in this many pages is summed from these pages only. */
const MAX_SUM_PAGES = 20;

async function read(source: Source, run: () => Promise<void>): Promise<void> {
  try {
    await run();
    markOk(source);
  } catch (e) {
    markFailed(source, e);
  }
}

const loadParams = () =>
  read('params', async () => {
    state.params = parseGlobalParams(await api.globalParams());
  });

const loadBtc = () =>
  read('btc', async () => {
    state.btc = await api.btcInfo();
  });

const loadStats = () =>
  read('stats', async () => {
    state.stats = await api.stats();
  });

const loadProviders = () =>
  read('fps', async () => {
    const fps = await api.finalityProviders();
    // Keep later pages a person asked for ("More providers"); refresh the first. Without such
    // pages the list is the API's, so a provider that left it leaves the page too.
    const extra = state.fpMorePages
      ? state.fps.slice(fps.data.length).filter((f) => !fps.data.some((x) => x.btc_pk === f.btc_pk))
      : [];
    state.fps = [...fps.data, ...extra];
    if (extra.length === 0) state.fpNextKey = fps.nextKey;
    if (state.fp) state.fp = state.fps.find((f) => f.btc_pk === state.fp!.btc_pk) ?? state.fp;
  });

/** The page of delegations shown, and the staker's total stake over all their pages. */
export const loadDelegations = () =>
  read('delegations', async () => {
    const w = state.wallet;
    if (!w) {
      state.delegations = [];
      state.stakedSat = undefined;
      return;
    }
    const key = state.delKeys[state.delKeys.length - 1];
    const page = await api.delegations(w.stakerPkHex, key);
    state.delegations = page.data;
    state.delNextKey = page.nextKey;
    let sum = 0n;
    let next: string | undefined = '';
    for (let i = 0; i < MAX_SUM_PAGES && next !== undefined; i++) {
      const p: Awaited<typeof page> = next === key ? page : await api.delegations(w.stakerPkHex, next);
      for (const d of p.data) if (LOCKED.has(d.state)) sum += BigInt(d.staking_value);
      next = p.nextKey || undefined;
    }
    state.stakedSat = sum;
  });

/** The wallet's coins, for "stakable balance"; a wallet that funds its own transactions has none to list. */
export const loadBalance = () =>
  read('balance', async () => {
    const w = state.wallet;
    if (w?.provider.kind !== 'extension') {
      state.balanceSat = undefined;
      return;
    }
    const utxos = await w.provider.listUtxos();
    state.balanceSat = utxos?.reduce((a, u) => a + u.valueSat, 0n);
  });

async function checkPending(): Promise<void> {
  let confirmed = false;
  for (const p of [...state.pending.values()]) {
    const d = await api.delegation(p.txid);
    if (d) {
      state.pending.delete(p.txid);
      confirmed = true;
      if ($('stake-status').textContent?.includes(p.txid)) $('stake-status').textContent = '';
      notify(
        `Your stake ${shortHex(p.txid)} is confirmed: state ${d.state}${d.is_overflow ? ' (overflow)' : ''}.`,
      );
    }
  }
  savePending();
  // The wallet's coins changed with the stake; its balance is read again then, not every refresh.
  if (confirmed) await loadBalance();
}

const pendingKey = () => (state.wallet ? `staking-pending:${state.wallet.stakerPkHex}` : undefined);
export function savePending(): void {
  const k = pendingKey();
  if (!k) return;
  localStorage.setItem(
    k,
    JSON.stringify([...state.pending.values()].map((p) => ({ ...p, valueSat: p.valueSat.toString() }))),
  );
}
export function loadPending(): void {
  const k = pendingKey();
  state.pending.clear();
  if (!k) return;
  try {
    for (const p of JSON.parse(localStorage.getItem(k) ?? '[]') as Array<{
      txid: string;
      valueSat: string;
      depth: number;
    }>) {
      state.pending.set(p.txid, { txid: p.txid, valueSat: BigInt(p.valueSat), depth: p.depth });
    }
  } catch {
    localStorage.removeItem(k);
  }
}

const UNREACHABLE = 'The staking API cannot be reached';
let refreshing = false;

/**
 * One refresh of everything shown. Only when every read failed, which is what an unreachable API
 * looks like, does the banner say so; a single failing route is told in its own section.
 */
export async function refresh(render: () => void): Promise<void> {
  if (refreshing) return;
  refreshing = true;
  try {
    await Promise.all([
      state.params ? Promise.resolve() : loadParams(),
      loadBtc(),
      loadStats(),
      loadProviders(),
      loadDelegations(),
    ]);
    const sources: Source[] = ['btc', 'stats', 'fps', ...(state.params ? [] : (['params'] as const))];
    const allFailed = sources.every((s) => state.load[s].kind === 'error');
    const banner = $('banner').textContent ?? '';
    if (allFailed) {
      const s = state.load.btc;
      if (!state.busy && (banner === '' || banner.startsWith(UNREACHABLE)) && s.kind === 'error')
        showErrorText(s.message);
    } else if (!state.busy && banner.startsWith(UNREACHABLE)) {
      clearError();
    }
    try {
      await checkPending();
    } catch {
      // The pending list is checked again at the next refresh; the sections above tell the outage.
    }
  } finally {
    refreshing = false;
    render();
  }
}
