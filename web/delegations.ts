/// <reference lib="dom" />
/** "Your delegations": stakes on their way, the staker's delegations, and what each allows now. */
import type { Delegation } from './api.ts';
import { $, button, h, hashEl, hashWithTools } from './dom.ts';
import { blocksAndTime, formatBtc, shortHex } from './format.ts';
import { renderStatus, tip } from './overview.ts';
import { state } from './state.ts';
import { unlockHeight } from './txbuild.ts';

export function renderPending(): void {
  $('pending').replaceChildren(
    ...[...state.pending.values()].map((p) =>
      h(
        'li',
        { 'data-pending': p.txid },
        `Pending: ${formatBtc(p.valueSat)} in `,
        hashWithTools(p.txid, 'transaction id', 'tx'),
        ` — broadcast; it shows here as a delegation once ${p.depth} blocks confirm it.`,
      ),
    ),
  );
}

function timelockCell(d: Delegation, t: number): string {
  const u = d.unbonding_tx;
  if (d.state === 'withdrawn') return 'withdrawn';
  if (d.state === 'unbonding_requested') return 'unbonding requested: waiting for the covenant committee';
  const [start, lock, what] = u
    ? [u.start_height, u.timelock, 'unbonding lock']
    : [d.staking_tx.start_height, d.staking_tx.timelock, 'staking lock'];
  const unlock = unlockHeight(start, lock);
  const left = unlock - (t + 1);
  return left > 0
    ? `${what} ends at ${unlock}: ${blocksAndTime(left)} left`
    : `${what} ended at ${unlock}: withdrawable`;
}

export function canUnbond(d: Delegation): boolean {
  return d.state === 'active' && !d.unbonding_tx;
}

export function canWithdraw(d: Delegation, t: number): boolean {
  if (d.state === 'withdrawn' || d.state === 'unbonding_requested') return false;
  if (d.state === 'active' && d.unbonding_tx) return false;
  const u = d.unbonding_tx;
  const unlock = u
    ? unlockHeight(u.start_height, u.timelock)
    : unlockHeight(d.staking_tx.start_height, d.staking_tx.timelock);
  return t + 1 >= unlock;
}

/** A block's time beside its height: the API's timestamp, in the person's own time zone. */
function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? ''
    : ` (${d.toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' })})`;
}

export const fpNameOf = (pk: string): string | undefined =>
  state.fps.find((f) => f.btc_pk === pk)?.description.moniker || undefined;

function stateCell(d: Delegation): HTMLElement {
  const words = d.state.replace('_', ' ');
  if (!d.is_overflow)
    return h('td', { 'data-label': 'State' }, h('span', { class: `state ${d.state}` }, words));
  // An overflow stake is "active" to the API only so that it can be unbonded; to its staker it is
  // bitcoin locked without earning, which is what the reference's "Overflow" says.
  return h(
    'td',
    { 'data-label': 'State' },
    h('span', { class: 'state overflow' }, d.state === 'active' ? 'Overflow' : `Overflow · ${words}`),
    h(
      'span',
      { class: 'warning' },
      'Staked above the cap: never active stake. Unbond or withdraw it to get your bitcoin back.',
    ),
  );
}

export interface DelegationActions {
  readonly unbond: (d: Delegation) => void;
  readonly withdraw: (d: Delegation) => void;
}

let shown = '';

export function renderDelegations(on: DelegationActions): void {
  const t = tip() ?? 0;
  // Rebuilding rows that did not change would take the keyboard focus away at every refresh.
  const load = state.load.delegations;
  const key = JSON.stringify([
    state.delegations,
    t,
    state.wallet?.stakerPkHex,
    state.fps.map((f) => f.description.moniker),
    state.delKeys,
    state.delNextKey,
    load.kind,
    load.kind === 'error' && load.message,
  ]);
  if (key === shown) {
    // Busy or not only disables the buttons in place, so focus returns to them after a dialog.
    $('del-rows')
      .querySelectorAll<HTMLButtonElement>('button.unbond, button.withdraw')
      .forEach((b) => {
        b.disabled = state.busy;
      });
    return;
  }
  shown = key;
  const rows = state.delegations.map((d) => {
    const what = `${formatBtc(d.staking_value)} stake ${shortHex(d.staking_tx_hash_hex)}`;
    const unbond = h(
      'button',
      { type: 'button', class: 'unbond', disabled: state.busy, 'aria-label': `Unbond ${what}` },
      'Unbond',
    );
    unbond.addEventListener('click', () => on.unbond(d));
    const withdraw = h(
      'button',
      { type: 'button', class: 'withdraw', disabled: state.busy, 'aria-label': `Withdraw ${what}` },
      'Withdraw',
    );
    withdraw.addEventListener('click', () => on.withdraw(d));
    const fpName = fpNameOf(d.finality_provider_pk_hex);
    const actions = [canUnbond(d) && unbond, canWithdraw(d, t) && withdraw].filter(Boolean) as HTMLElement[];
    return h(
      'tr',
      { 'data-tx': d.staking_tx_hash_hex, 'data-state': d.state, 'data-overflow': String(d.is_overflow) },
      h(
        'td',
        { 'data-label': 'Staking tx' },
        hashWithTools(d.staking_tx_hash_hex, 'staking transaction id', 'tx'),
      ),
      h('td', { 'data-label': 'Provider' }, fpName ?? hashEl(d.finality_provider_pk_hex)),
      h('td', { class: 'num', 'data-label': 'Amount' }, formatBtc(d.staking_value)),
      stateCell(d),
      h(
        'td',
        { class: 'num', 'data-label': 'Heights' },
        `staked at ${d.staking_tx.start_height}${when(d.staking_tx.start_timestamp)}`,
        d.unbonding_tx && h('br'),
        d.unbonding_tx &&
          `unbonding at ${d.unbonding_tx.start_height}${when(d.unbonding_tx.start_timestamp)}`,
      ),
      h('td', { class: 'timelock', 'data-label': 'Timelock' }, timelockCell(d, t)),
      h('td', { class: 'actions', 'data-label': actions.length ? 'Actions' : undefined }, ...actions),
    );
  });
  $('del-rows').replaceChildren(...rows);
  $('del-table').hidden = rows.length === 0;
  if (state.wallet) {
    renderStatus(
      'del-status',
      state.load.delegations,
      'your delegations',
      rows.length > 0,
      rows.length === 0 ? 'No delegations yet: your stakes show here once confirmed.' : undefined,
    );
  } else {
    const el = $('del-status');
    el.textContent = 'Connect a wallet to see your delegations.';
    el.hidden = false;
    el.dataset.status = 'no-wallet';
  }
  button('del-prev').disabled = state.delKeys.length <= 1;
  button('del-next').disabled = state.delNextKey === '';
  $('del-pager').hidden = !state.wallet || (state.delKeys.length <= 1 && state.delNextKey === '');
  $('del-page').textContent = state.wallet ? `page ${state.delKeys.length}` : '';
}
