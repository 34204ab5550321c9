/// <reference lib="dom" />
/** The Wallet section: connect buttons, or the connected account with its stake and balance. */
import { $, button, copyButton, explorerLink, h } from './dom.ts';
import { formatBtc } from './format.ts';
import { state } from './state.ts';
import type { UnisatLike } from './wallet.ts';

export function extensionObject(): UnisatLike | undefined {
  const w = (window as unknown as { unisat?: UnisatLike }).unisat;
  return w && typeof w.signPsbt === 'function' ? w : undefined;
}

function figure(label: string, id: string, value: string): HTMLElement {
  return h('div', {}, h('dt', {}, label), h('dd', { id }, value));
}

let shown = '';

export function renderWallet(): void {
  const w = state.wallet;
  const hasExtension = extensionObject() !== undefined;
  button('connect-extension').disabled = !hasExtension || state.busy;
  button('connect-elsewhere').disabled = state.busy;
  $('extension-hint').textContent = hasExtension
    ? ''
    : 'No browser wallet found (window.unisat): install a UniSat-compatible extension, or sign elsewhere.';
  $('wallet-connect').hidden = w !== undefined;
  $('disconnect').hidden = w === undefined;
  // Rebuilt only when it changed, as the tables are: a refresh must not take the focus away.
  const key = JSON.stringify([
    w?.account,
    w?.provider.kind,
    String(state.stakedSat),
    String(state.balanceSat),
    state.load.delegations.kind,
    state.load.balance.kind,
  ]);
  if (key === shown) return;
  shown = key;
  if (!w) {
    $('wallet-state').replaceChildren(
      h('p', { class: 'hint' }, 'Connect a wallet to see your delegations and stake.'),
    );
    return;
  }
  const del = state.load.delegations;
  const staked =
    state.stakedSat !== undefined
      ? formatBtc(state.stakedSat)
      : del.kind === 'error'
        ? 'could not be loaded'
        : 'loading…';
  const bal = state.load.balance;
  const balance =
    state.balanceSat !== undefined
      ? formatBtc(state.balanceSat)
      : w.provider.kind === 'sign-elsewhere'
        ? 'held by your other wallet'
        : bal.kind === 'error'
          ? 'could not be read from the wallet'
          : 'loading…';
  $('wallet-state').replaceChildren(
    h(
      'p',
      { id: 'wallet-address', class: 'wallet-line' },
      `Connected (${w.provider.label}): `,
      h('code', { class: 'wrap' }, w.account.address),
      ' ',
      copyButton(w.account.address, 'address'),
      ' ',
      explorerLink('address', w.account.address),
    ),
    h(
      'p',
      { class: 'hint wallet-line' },
      'Staker key: ',
      h('code', { id: 'wallet-staker-key', class: 'wrap' }, w.stakerPkHex),
      ' ',
      copyButton(w.stakerPkHex, 'staker key'),
    ),
    h(
      'dl',
      { class: 'cards', id: 'wallet-figures' },
      figure('Your total stake', 'wallet-staked', staked),
      figure('Stakable balance', 'wallet-balance', balance),
    ),
  );
}
