/// <reference lib="dom" />
/** The Stake section: the form and its problems, or the "cap reached" panel in its place. */
import { $, button, h, input } from './dom.ts';
import { approxTime, blocksAndTime, formatBtc, shortHex } from './format.ts';
import { capState, nextVersion, tip } from './overview.ts';
import { state } from './state.ts';
import { checkStake, type StakeField } from './validate.ts';

/** The inputs whose problems are tied to them (aria-invalid, aria-describedby). */
const INPUT_OF: Partial<Record<StakeField, string>> = { amount: 'amount', time: 'time', fee: 'fee-rate' };

/** Problems are shown for fields the person has touched, or all of them after a submit. */
export const form = { touched: new Set<string>(), submitted: false };

export function stakeCheck() {
  const params = state.params;
  const t = tip();
  if (!params || t === undefined || !state.btc) return undefined;
  return checkStake({
    params,
    tipHeight: t,
    amountText: input('amount').value,
    timeText: input('time').value,
    feeRateText: input('fee-rate').value,
    stakedSat: BigInt(state.btc.unconfirmed_tvl),
    apiNetwork: state.btc.network,
    walletAddress: state.wallet?.account.address,
    finalityProviderPkHex: state.fp?.btc_pk,
  });
}

function renderCapReached(): boolean {
  const c = capState();
  const panel = $('cap-reached');
  const full = c?.full === true;
  panel.hidden = !full;
  $('stake-form').hidden = full;
  if (!full || !c) return false;
  const v = nextVersion();
  const t = tip() ?? 0;
  const upcoming = state.params?.versions.find((x) => x.activationHeight > t + 1);
  $('cap-reached-text').textContent = `${
    c.by === 'value'
      ? `${formatBtc(c.stakedSat)} is staked against the ${formatBtc(c.capSat)} cap of params version ${v?.version} (counting unconfirmed stakes).`
      : `Params version ${v?.version} took stakes until height ${c.capHeight}.`
  } A stake now would be overflow: it locks your bitcoin but never counts as active stake. ${
    upcoming
      ? `Version ${upcoming.version} opens at height ${upcoming.activationHeight} (in ${blocksAndTime(upcoming.activationHeight - t)}).`
      : 'Staking reopens when stakes are unbonded or a new params version is announced.'
  }`;
  return true;
}

export function renderStakeForm(): void {
  if (renderCapReached()) return;
  $('stake-fp-name').textContent = state.fp
    ? `${state.fp.description.moniker || shortHex(state.fp.btc_pk)}`
    : 'none picked (choose one above)';
  const c = stakeCheck();
  const v = c?.version;
  $('stake-range').textContent = v
    ? `Version ${v.version}: ${formatBtc(v.minStakingAmountSat)} to ${formatBtc(v.maxStakingAmountSat)}, ${v.minStakingTime} to ${v.maxStakingTime} blocks (${approxTime(v.minStakingTime)} to ${approxTime(v.maxStakingTime)}).`
    : '';
  const shown = (c?.problems ?? []).filter(
    (p) => form.submitted || form.touched.has(p.field) || ['height', 'cap', 'network'].includes(p.field),
  );
  const items = shown.map((p, i) =>
    h('li', { id: `problem-${p.field}-${i}`, 'data-code': p.code, 'data-field': p.field }, p.message),
  );
  $('stake-problems').replaceChildren(...items);
  for (const [field, id] of Object.entries(INPUT_OF)) {
    const el = input(id);
    const mine = items.filter((li) => li.dataset.field === field).map((li) => li.id);
    if (mine.length) {
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', mine.join(' '));
    } else {
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-describedby');
    }
  }
  $('stake-notes').replaceChildren(...(c?.notes ?? []).map((n) => h('li', {}, n)));
  button('stake-submit').disabled = state.busy || !c || (form.submitted && c.problems.length > 0);
}
