/// <reference lib="dom" />
/**
 * The staking dashboard page: wires the sections (overview, providers, wallet, stake form,
 * delegations) to what the API says and to what the person does. Each section renders from
 * `state`; every action ends in a render, and every failure in a sentence on the page.
 */
import { action, connect, disconnect, doStake, doUnbond, doWithdraw } from './actions.ts';
import { api } from './api.ts';
import { loadDelegations, refresh } from './data.ts';
import { renderDelegations, renderPending } from './delegations.ts';
import { manualUi } from './dialogs.ts';
import { $ } from './dom.ts';
import { showError } from './messages.ts';
import { renderChain, renderOverview } from './overview.ts';
import { renderProviders } from './providers.ts';
import { form, renderStakeForm } from './stakeForm.ts';
import { REFRESH_MS, state } from './state.ts';
import { ExtensionWallet, SignElsewhereWallet } from './wallet.ts';
import { extensionObject, renderWallet } from './walletPanel.ts';

window.addEventListener('error', (ev) => showError(ev.error ?? ev.message));
window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

const act = (run: () => Promise<void>) => void action(renderAll, run);

const delegationActions = {
  unbond: (d: Parameters<typeof doUnbond>[0]) => act(() => doUnbond(d)),
  withdraw: (d: Parameters<typeof doWithdraw>[0]) => act(() => doWithdraw(d)),
};

function pickProvider(fp: (typeof state.fps)[number]): void {
  state.fp = fp;
  renderProviders(pickProvider);
  renderStakeForm();
}

function renderAll(): void {
  renderChain();
  renderOverview();
  renderProviders(pickProvider);
  renderWallet();
  renderStakeForm();
  renderPending();
  renderDelegations(delegationActions);
}

function wire(): void {
  for (const id of ['amount', 'time', 'fee-rate']) {
    $(id).addEventListener('input', () => {
      form.touched.add(id === 'fee-rate' ? 'fee' : id);
      renderStakeForm();
    });
  }
  $('stake-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(() => doStake(renderAll));
  });
  $('connect-extension').addEventListener('click', () => {
    const w = extensionObject();
    if (w) act(() => connect(new ExtensionWallet(w)));
  });
  $('connect-elsewhere').addEventListener('click', () =>
    act(() => connect(new SignElsewhereWallet(manualUi, state.btc?.network ?? 'mainnet'))),
  );
  $('disconnect').addEventListener('click', () => {
    disconnect();
    renderAll();
  });
  $('fp-more').addEventListener('click', () =>
    act(async () => {
      const page = await api.finalityProviders(state.fpNextKey);
      state.fps = [...state.fps, ...page.data.filter((f) => !state.fps.some((x) => x.btc_pk === f.btc_pk))];
      state.fpNextKey = page.nextKey;
      state.fpMorePages = true;
    }),
  );
  $('del-next').addEventListener('click', () =>
    act(async () => {
      state.delKeys.push(state.delNextKey);
      await loadDelegations();
    }),
  );
  $('del-prev').addEventListener('click', () =>
    act(async () => {
      if (state.delKeys.length > 1) state.delKeys.pop();
      await loadDelegations();
    }),
  );
}

wire();
renderAll();
void refresh(renderAll);
setInterval(() => void refresh(renderAll), REFRESH_MS);
