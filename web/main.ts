/// <reference lib="dom" />
/**
 * The staking dashboard page: renders what the staking API knows, and drives the wallet through
 * staking, unbonding and withdraw. Protocol work is staking/'s (through txbuild.ts); this file is
 * the DOM and the order of the steps. Every failure ends as a sentence in the banner.
 */
import { isCodedError, toHex } from '../common/index.ts';
import {
  type GlobalParams,
  type ParamsVersion,
  parseGlobalParams,
  selectParamsForHeight,
} from '../params/index.ts';
import {
  type BitcoinNetwork,
  buildStakingOutputs,
  buildUnfundedStakingTx,
  parseTransaction,
} from '../staking/index.ts';
import { api, type BtcInfo, type Delegation, type FinalityProviderRow, type Stats } from './api.ts';
import { approxTime, blocksAndTime, formatBtc, shortHex } from './format.ts';
import {
  buildStakingDraft,
  buildUnbondingDraft,
  buildWithdrawDraft,
  checkSignedStakingTx,
  finishStakingTx,
  finishWithdraw,
  stakerKeyOf,
  unbondingRequest,
  unlockHeight,
} from './txbuild.ts';
import { checkStake } from './validate.ts';
import {
  ExtensionWallet,
  type ManualStep,
  type ManualUi,
  SignElsewhereWallet,
  type UnisatLike,
  type WalletAccount,
  type WalletProvider,
} from './wallet.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

type Child = Node | string | null | undefined | false;
function h(
  tag: string,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === undefined) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Seconds between refreshes: `?refresh=N` (1–300), for tests and busy screens; 10 by default. */
const REFRESH_MS = (() => {
  const n = Number(new URLSearchParams(location.search).get('refresh'));
  return Number.isInteger(n) && n >= 1 && n <= 300 ? n * 1000 : 10_000;
})();

interface Pending {
  readonly txid: string;
  readonly valueSat: bigint;
  readonly depth: number;
}

const state = {
  params: undefined as GlobalParams | undefined,
  btc: undefined as BtcInfo | undefined,
  stats: undefined as Stats | undefined,
  fps: [] as FinalityProviderRow[],
  fpNextKey: '',
  fp: undefined as FinalityProviderRow | undefined,
  wallet: undefined as { provider: WalletProvider; account: WalletAccount; stakerPkHex: string } | undefined,
  delegations: [] as Delegation[],
  /** Pagination keys of the pages before the current one, and the current one's. */
  delKeys: [''] as string[],
  delNextKey: '',
  pending: new Map<string, Pending>(),
  busy: false,
};

// ---------------------------------------------------------------- messages

function showError(e: unknown): void {
  const text = isCodedError(e)
    ? e.message
    : e instanceof Error
      ? `Unexpected error: ${e.message}`
      : `Unexpected error: ${String(e)}`;
  const b = $('banner');
  b.textContent = text;
  b.hidden = false;
}
function clearError(): void {
  $('banner').hidden = true;
}
function notify(text: string): void {
  const n = $('notice');
  n.textContent = text;
  n.hidden = false;
}
window.addEventListener('error', (ev) => showError(ev.error ?? ev.message));
window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

/** Runs a user action with the page marked busy; its failure lands in the banner. */
async function action(run: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  document.body.classList.add('busy');
  renderBusy();
  clearError();
  try {
    await run();
  } catch (e) {
    showError(e);
  } finally {
    state.busy = false;
    document.body.classList.remove('busy');
    renderBusy();
  }
}

// ---------------------------------------------------------------- rendering

const network = (): BitcoinNetwork => state.btc?.network ?? 'mainnet';
const tip = (): number | undefined => state.btc?.tip_height ?? undefined;

function renderChain(): void {
  const b = state.btc;
  $('chain').textContent = b
    ? `${b.network} · BTC tip ${b.tip_height ?? 'not reported yet'} · refreshed ${new Date().toLocaleTimeString()}`
    : 'Connecting to the staking API…';
}

function renderOverview(): void {
  const s = state.stats;
  const b = state.btc;
  const cards: Array<[string, string, string]> = s
    ? [
        ['Active TVL', formatBtc(s.active_tvl), 'stat-active-tvl'],
        ['Total TVL', formatBtc(s.total_tvl), 'stat-total-tvl'],
        ['Unconfirmed TVL', formatBtc(s.unconfirmed_tvl), 'stat-unconfirmed-tvl'],
        ['Active delegations', s.active_delegations.toLocaleString('en-US'), 'stat-active-delegations'],
        ['All delegations', s.total_delegations.toLocaleString('en-US'), 'stat-total-delegations'],
        ['Stakers', s.total_stakers.toLocaleString('en-US'), 'stat-stakers'],
      ]
    : [];
  $('stats').replaceChildren(...cards.map(([k, v, id]) => h('div', {}, h('dt', {}, k), h('dd', { id }, v))));

  const params = state.params;
  const t = tip();
  if (!params || t === undefined) {
    $('params').textContent = params
      ? 'Waiting for the indexer to report the BTC tip.'
      : 'Loading parameters…';
    $('cap').replaceChildren();
    return;
  }
  const next = t + 1;
  const current = selectParamsForHeight(params, next);
  const upcoming = params.versions.find((v) => v.activationHeight > next);
  $('params').replaceChildren(
    h(
      'p',
      { id: 'params-current' },
      current
        ? `Parameters for the next block (${next}): version ${current.version} — stake ${formatBtc(current.minStakingAmountSat)} to ${formatBtc(current.maxStakingAmountSat)} for ${current.minStakingTime}–${current.maxStakingTime} blocks; unbonding takes ${blocksAndTime(current.unbondingTime)} and costs ${formatBtc(current.unbondingFeeSat)}.`
        : `Staking has not started: version ${params.versions[0]!.version} activates at height ${params.versions[0]!.activationHeight}.`,
    ),
    h(
      'p',
      { id: 'params-next' },
      upcoming
        ? `Next: version ${upcoming.version} activates at height ${upcoming.activationHeight} (in ${blocksAndTime(upcoming.activationHeight - t)}).`
        : 'No further parameter version is scheduled.',
    ),
  );
  renderCap(current, b);
}

function renderCap(v: ParamsVersion | undefined, b: BtcInfo | undefined): void {
  const el = $('cap');
  if (!v || !b) {
    el.replaceChildren();
    return;
  }
  if (v.capHeight !== 0) {
    const left = v.capHeight - (b.tip_height ?? 0);
    el.replaceChildren(
      h(
        'p',
        { id: 'cap-label' },
        left > 0
          ? `Staking cap: by height — version ${v.version} takes stakes until height ${v.capHeight} (${blocksAndTime(left)} left).`
          : `Staking cap reached: version ${v.version} closed at height ${v.capHeight}.`,
      ),
    );
    return;
  }
  const staked = BigInt(b.unconfirmed_tvl);
  const pct = Number((staked * 10_000n) / v.stakingCapSat) / 100;
  const full = staked >= v.stakingCapSat;
  // Through the CSSOM: the page's CSP (style-src 'self') refuses style attributes in markup.
  const fill = h('div');
  fill.style.width = `${Math.min(pct, 100)}%`;
  el.replaceChildren(
    h(
      'p',
      { id: 'cap-label' },
      `Staking cap: ${formatBtc(staked)} of ${formatBtc(v.stakingCapSat)} (${Math.min(pct, 100).toFixed(1)} %, counting unconfirmed stakes)${full ? ' — full: new stakes are overflow' : ''}.`,
    ),
    h(
      'div',
      {
        class: full ? 'bar full' : 'bar',
        role: 'progressbar',
        'aria-valuemin': '0',
        'aria-valuemax': '100',
        'aria-valuenow': String(Math.min(pct, 100)),
        id: 'cap-bar',
      },
      fill,
    ),
  );
}

function renderProviders(): void {
  const rows = state.fps.map((fp) => {
    const name = fp.description.moniker || '(not in the registry)';
    const radio = h('input', {
      type: 'radio',
      name: 'fp',
      value: fp.btc_pk,
      'aria-label': `Pick ${name}`,
      checked: state.fp?.btc_pk === fp.btc_pk,
    }) as HTMLInputElement;
    radio.addEventListener('change', () => {
      state.fp = fp;
      renderStakeForm();
    });
    return h(
      'tr',
      { 'data-fp': fp.btc_pk },
      h('td', {}, radio),
      h('td', {}, name),
      h('td', { class: 'num' }, fp.commission ? `${(Number(fp.commission) * 100).toFixed(2)} %` : '—'),
      h('td', { class: 'num' }, formatBtc(fp.active_tvl)),
      h('td', { class: 'num' }, `${fp.active_delegations} active / ${fp.total_delegations}`),
      h('td', {}, h('code', { title: fp.btc_pk }, shortHex(fp.btc_pk))),
    );
  });
  $('fp-rows').replaceChildren(
    ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: '6' }, 'No finality provider is registered.'))]),
  );
  $('fp-more').hidden = state.fpNextKey === '';
}

function renderWallet(): void {
  const w = state.wallet;
  const hasExtension = extensionObject() !== undefined;
  ($('connect-extension') as HTMLButtonElement).disabled = !hasExtension || state.busy;
  ($('connect-elsewhere') as HTMLButtonElement).disabled = state.busy;
  $('extension-hint').textContent = hasExtension
    ? ''
    : 'No browser wallet found (window.unisat): install a UniSat-compatible extension, or sign elsewhere.';
  $('wallet-connect').hidden = w !== undefined;
  $('disconnect').hidden = w === undefined;
  $('wallet-state').replaceChildren(
    ...(w
      ? [
          h(
            'p',
            { id: 'wallet-address' },
            `Connected (${w.provider.label}): `,
            h('code', {}, w.account.address),
          ),
          h('p', { class: 'hint' }, 'Staker key: ', h('code', { id: 'wallet-staker-key' }, w.stakerPkHex)),
        ]
      : [h('p', { class: 'hint' }, 'Connect a wallet to see your delegations and stake.')]),
  );
}

function stakeCheck() {
  const params = state.params;
  const t = tip();
  if (!params || t === undefined || !state.btc) return undefined;
  return checkStake({
    params,
    tipHeight: t,
    amountText: ($('amount') as HTMLInputElement).value,
    timeText: ($('time') as HTMLInputElement).value,
    feeRateText: ($('fee-rate') as HTMLInputElement).value,
    stakedSat: BigInt(state.btc.unconfirmed_tvl),
    apiNetwork: state.btc.network,
    walletAddress: state.wallet?.account.address,
    finalityProviderPkHex: state.fp?.btc_pk,
  });
}

/** Problems are shown for fields the person has touched, or all of them after a submit. */
const touched = new Set<string>();
let submitted = false;

function renderStakeForm(): void {
  $('stake-fp-name').textContent = state.fp
    ? `${state.fp.description.moniker || shortHex(state.fp.btc_pk)}`
    : 'none picked (choose one above)';
  const c = stakeCheck();
  const v = c?.version;
  $('stake-range').textContent = v
    ? `Version ${v.version}: ${formatBtc(v.minStakingAmountSat)} to ${formatBtc(v.maxStakingAmountSat)}, ${v.minStakingTime} to ${v.maxStakingTime} blocks (${approxTime(v.minStakingTime)} to ${approxTime(v.maxStakingTime)}).`
    : '';
  const shown = (c?.problems ?? []).filter(
    (p) => submitted || touched.has(p.field) || ['height', 'cap', 'network'].includes(p.field),
  );
  $('stake-problems').replaceChildren(
    ...shown.map((p) => h('li', { 'data-code': p.code, 'data-field': p.field }, p.message)),
  );
  $('stake-notes').replaceChildren(...(c?.notes ?? []).map((n) => h('li', {}, n)));
  ($('stake-submit') as HTMLButtonElement).disabled =
    state.busy || !c || (submitted && c.problems.length > 0);
}

function renderPending(): void {
  $('pending').replaceChildren(
    ...[...state.pending.values()].map((p) =>
      h(
        'li',
        { 'data-pending': p.txid },
        `Pending: ${formatBtc(p.valueSat)} in `,
        h('code', {}, shortHex(p.txid)),
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

function canWithdraw(d: Delegation, t: number): boolean {
  if (d.state === 'withdrawn' || d.state === 'unbonding_requested') return false;
  if (d.state === 'active' && d.unbonding_tx) return false;
  const u = d.unbonding_tx;
  const unlock = u
    ? unlockHeight(u.start_height, u.timelock)
    : unlockHeight(d.staking_tx.start_height, d.staking_tx.timelock);
  return t + 1 >= unlock;
}

function renderDelegations(): void {
  const t = tip() ?? 0;
  const rows = state.delegations.map((d) => {
    const unbond = h('button', { type: 'button', class: 'unbond', disabled: state.busy }, 'Unbond');
    unbond.addEventListener('click', () => void action(() => doUnbond(d)));
    const withdraw = h('button', { type: 'button', class: 'withdraw', disabled: state.busy }, 'Withdraw');
    withdraw.addEventListener('click', () => void action(() => doWithdraw(d)));
    const fpName = state.fps.find((f) => f.btc_pk === d.finality_provider_pk_hex)?.description.moniker;
    return h(
      'tr',
      { 'data-tx': d.staking_tx_hash_hex, 'data-state': d.state },
      h('td', {}, h('code', { title: d.staking_tx_hash_hex }, shortHex(d.staking_tx_hash_hex))),
      h('td', {}, fpName || h('code', {}, shortHex(d.finality_provider_pk_hex))),
      h('td', { class: 'num' }, formatBtc(d.staking_value)),
      h(
        'td',
        {},
        h('span', { class: `state ${d.state}` }, d.state.replace('_', ' ')),
        d.is_overflow && h('span', { class: 'overflow' }, 'overflow: above the cap, never active stake'),
      ),
      h(
        'td',
        { class: 'num' },
        `staked at ${d.staking_tx.start_height}`,
        d.unbonding_tx && h('br'),
        d.unbonding_tx && `unbonding at ${d.unbonding_tx.start_height}`,
      ),
      h('td', { class: 'timelock' }, timelockCell(d, t)),
      h('td', {}, d.state === 'active' && !d.unbonding_tx && unbond, canWithdraw(d, t) && withdraw),
    );
  });
  $('del-rows').replaceChildren(
    ...(rows.length
      ? rows
      : [
          h(
            'tr',
            {},
            h(
              'td',
              { colspan: '7' },
              state.wallet ? 'No delegations yet.' : 'Connect a wallet to see your delegations.',
            ),
          ),
        ]),
  );
  ($('del-prev') as HTMLButtonElement).disabled = state.delKeys.length <= 1;
  ($('del-next') as HTMLButtonElement).disabled = state.delNextKey === '';
  $('del-page').textContent = state.wallet ? `page ${state.delKeys.length}` : '';
}

function renderBusy(): void {
  renderWallet();
  renderStakeForm();
  renderDelegations();
}

function renderAll(): void {
  renderChain();
  renderOverview();
  renderProviders();
  renderWallet();
  renderStakeForm();
  renderPending();
  renderDelegations();
}

// ---------------------------------------------------------------- data

async function loadParams(): Promise<void> {
  state.params = parseGlobalParams(await api.globalParams());
}

async function loadDelegations(): Promise<void> {
  const w = state.wallet;
  if (!w) {
    state.delegations = [];
    return;
  }
  const page = await api.delegations(w.stakerPkHex, state.delKeys[state.delKeys.length - 1]);
  state.delegations = page.data;
  state.delNextKey = page.nextKey;
}

async function checkPending(): Promise<void> {
  for (const p of [...state.pending.values()]) {
    const d = await api.delegation(p.txid);
    if (d) {
      state.pending.delete(p.txid);
      if ($('stake-status').textContent?.includes(p.txid)) $('stake-status').textContent = '';
      notify(
        `Your stake ${shortHex(p.txid)} is confirmed: state ${d.state}${d.is_overflow ? ' (overflow)' : ''}.`,
      );
    }
  }
  savePending();
}

const pendingKey = () => (state.wallet ? `staking-pending:${state.wallet.stakerPkHex}` : undefined);
function savePending(): void {
  const k = pendingKey();
  if (!k) return;
  localStorage.setItem(
    k,
    JSON.stringify([...state.pending.values()].map((p) => ({ ...p, valueSat: p.valueSat.toString() }))),
  );
}
function loadPending(): void {
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

let refreshing = false;
/** One refresh of everything shown; an unreachable API is a banner, and the next refresh retries. */
async function refresh(): Promise<void> {
  if (refreshing) return;
  refreshing = true;
  try {
    if (!state.params) await loadParams();
    const [btc, stats, fps] = await Promise.all([api.btcInfo(), api.stats(), api.finalityProviders()]);
    state.btc = btc;
    state.stats = stats;
    // Keep later pages a person already loaded; refresh the first.
    const extra = state.fps
      .slice(fps.data.length)
      .filter((f) => !fps.data.some((x) => x.btc_pk === f.btc_pk));
    state.fps = [...fps.data, ...extra];
    if (extra.length === 0) state.fpNextKey = fps.nextKey;
    if (state.fp) state.fp = state.fps.find((f) => f.btc_pk === state.fp!.btc_pk) ?? state.fp;
    await loadDelegations();
    await checkPending();
    if (!state.busy && $('banner').textContent?.startsWith('The staking API cannot be reached')) clearError();
  } catch (e) {
    showError(e);
  } finally {
    refreshing = false;
    renderAll();
  }
}

// ---------------------------------------------------------------- wallet

function extensionObject(): UnisatLike | undefined {
  const w = (window as unknown as { unisat?: UnisatLike }).unisat;
  return w && typeof w.signPsbt === 'function' ? w : undefined;
}

const manualUi: ManualUi = {
  ask(step: ManualStep): Promise<Record<string, string>> {
    const dialog = $('manual') as HTMLDialogElement;
    $('manual-title').textContent = step.title;
    $('manual-explain').textContent = step.explain;
    $('manual-show').hidden = !step.show;
    $('manual-show-label').textContent = step.show?.label ?? '';
    ($('manual-show-value') as HTMLTextAreaElement).value = step.show?.value ?? '';
    $('manual-error').textContent = '';
    $('manual-submit').textContent = step.submitLabel;
    const inputs = step.fields.map((f) => {
      const el = h(f.name === 'signed' ? 'textarea' : 'input', {
        name: f.name,
        id: `manual-field-${f.name}`,
        rows: f.name === 'signed' ? '5' : undefined,
        autocomplete: 'off',
      }) as HTMLInputElement;
      return { name: f.name, el, label: h('label', {}, f.label, el) };
    });
    $('manual-fields').replaceChildren(...inputs.map((i) => i.label));
    dialog.showModal();
    return new Promise((resolve, reject) => {
      const done = () => {
        form.removeEventListener('submit', onSubmit);
        cancel.removeEventListener('click', onCancel);
        copy.removeEventListener('click', onCopy);
        dialog.close();
      };
      const form = $('manual-form');
      const cancel = $('manual-cancel');
      const copy = $('manual-copy');
      const onSubmit = (ev: Event) => {
        ev.preventDefault();
        const values = Object.fromEntries(inputs.map((i) => [i.name, i.el.value]));
        if (inputs.some((i) => i.el.value.trim() === '')) {
          $('manual-error').textContent = 'Fill in every field.';
          return;
        }
        done();
        resolve(values);
      };
      const onCancel = () => {
        done();
        reject(new Error('cancelled'));
      };
      const onCopy = () => void navigator.clipboard?.writeText(step.show?.value ?? '').catch(() => undefined);
      form.addEventListener('submit', onSubmit);
      cancel.addEventListener('click', onCancel);
      copy.addEventListener('click', onCopy);
    });
  },
};

async function connect(provider: WalletProvider): Promise<void> {
  let account: WalletAccount;
  try {
    account = await provider.connect();
  } catch (e) {
    if (e instanceof Error && e.message === 'cancelled') return;
    throw e;
  }
  state.wallet = { provider, account, stakerPkHex: toHex(stakerKeyOf(account.publicKeyHex)) };
  state.delKeys = [''];
  loadPending();
  touched.add('wallet');
  await loadDelegations();
  renderAll();
}

/** The sign-elsewhere provider's dialog closes with 'cancelled': not an error worth a banner. */
async function orCancelled<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof Error && e.message === 'cancelled') return undefined;
    throw e;
  }
}

// ---------------------------------------------------------------- actions

async function doStake(): Promise<void> {
  submitted = true;
  const c = stakeCheck();
  renderStakeForm();
  const w = state.wallet;
  if (!c || c.problems.length > 0 || !w || !state.fp || !c.version) return;
  const { version, valueSat, stakingTime, feeRate } = c;
  if (valueSat === undefined || stakingTime === undefined || feeRate === undefined) return;
  const net = network();
  const stakerKey = stakerKeyOf(w.account.publicKeyHex);
  const fpKey = stakerKeyOf(state.fp.btc_pk);
  const status = $('stake-status');
  status.textContent = 'Building the staking transaction…';
  const utxos = await w.provider.listUtxos();
  let txHex: string;
  if (utxos === undefined && w.provider.fundAndSign) {
    const outputs = buildStakingOutputs({ params: version, stakerKey, fpKey, stakingTime, valueSat });
    const unfunded = buildUnfundedStakingTx(outputs, version.activationHeight - 1);
    const signed = await orCancelled(w.provider.fundAndSign(unfunded.toHex()));
    if (signed === undefined) {
      status.textContent = 'Cancelled.';
      return;
    }
    txHex = checkSignedStakingTx(
      { version, outputs },
      parseTransaction(signed, 'the signed transaction'),
    ).toHex();
  } else {
    const draft = buildStakingDraft({
      version,
      stakerKey,
      fpKey,
      stakingTime,
      valueSat,
      utxos: utxos ?? [],
      feeRate,
      address: w.account.address,
      publicKeyHex: w.account.publicKeyHex,
      network: net,
    });
    status.textContent = `Sign in your wallet: ${formatBtc(valueSat)} for ${blocksAndTime(stakingTime)}, fee ${formatBtc(draft.feeSat)}.`;
    const signed = await orCancelled(
      w.provider.signPsbt({
        purpose: 'staking',
        psbtHex: draft.psbt.toHex(),
        psbtBase64: draft.psbt.toBase64(),
        inputs: draft.inputsToSign,
        finalize: true,
      }),
    );
    if (signed === undefined) {
      status.textContent = 'Cancelled.';
      return;
    }
    txHex = finishStakingTx(draft, signed, net).toHex();
  }
  status.textContent = 'Broadcasting…';
  const txid = await orCancelled(w.provider.broadcast(txHex));
  if (txid === undefined) {
    status.textContent = 'Cancelled.';
    return;
  }
  state.pending.set(txid, { txid, valueSat, depth: version.confirmationDepth });
  savePending();
  status.textContent = `Broadcast ${txid}: pending until ${version.confirmationDepth} blocks confirm it.`;
  submitted = false;
  touched.clear();
  renderAll();
}

async function doUnbond(d: Delegation): Promise<void> {
  const w = state.wallet;
  if (!w || !state.params) return;
  const draft = buildUnbondingDraft(d, state.params, network(), w.account.publicKeyHex);
  const signed = await orCancelled(
    w.provider.signPsbt({
      purpose: 'unbonding',
      psbtHex: draft.psbt.toHex(),
      psbtBase64: draft.psbt.toBase64(),
      inputs: draft.inputsToSign,
      finalize: false,
    }),
  );
  if (signed === undefined) return;
  await api.requestUnbonding(unbondingRequest(draft, signed, network()));
  notify(
    `Unbonding requested for ${shortHex(d.staking_tx_hash_hex)}: the covenant committee co-signs and the unbonding transaction is broadcast; the funds are withdrawable ${blocksAndTime(selectParamsForHeight(state.params, d.staking_tx.start_height)?.unbondingTime ?? 0)} after it confirms.`,
  );
  await loadDelegations();
  renderAll();
}

async function doWithdraw(d: Delegation): Promise<void> {
  const w = state.wallet;
  const t = tip();
  if (!w || !state.params || t === undefined) return;
  const feeText = ($('fee-rate') as HTMLInputElement).value.trim();
  const feeRate = Number(feeText);
  if (!/^\d+(?:\.\d+)?$/.test(feeText) || feeRate < 1) {
    throw new Error('Set a fee rate of at least 1 sat/vB in the stake form first; the withdraw uses it.');
  }
  const draft = buildWithdrawDraft({
    delegation: d,
    params: state.params,
    network: network(),
    tipHeight: t,
    toAddress: w.account.address,
    feeRate,
    publicKeyHex: w.account.publicKeyHex,
  });
  const signed = await orCancelled(
    w.provider.signPsbt({
      purpose: 'withdraw',
      psbtHex: draft.psbt.toHex(),
      psbtBase64: draft.psbt.toBase64(),
      inputs: draft.inputsToSign,
      finalize: false,
    }),
  );
  if (signed === undefined) return;
  const tx = finishWithdraw(draft, signed, network());
  const txid = await orCancelled(w.provider.broadcast(tx.toHex()));
  if (txid === undefined) return;
  notify(
    `Withdraw ${shortHex(txid)} broadcast: ${formatBtc(draft.prevout.valueSat - draft.feeSat)} to ${w.account.address} (fee ${formatBtc(draft.feeSat)}).`,
  );
}

// ---------------------------------------------------------------- wiring

function wire(): void {
  for (const id of ['amount', 'time', 'fee-rate']) {
    $(id).addEventListener('input', () => {
      touched.add(id === 'fee-rate' ? 'fee' : id);
      renderStakeForm();
    });
  }
  $('stake-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void action(doStake);
  });
  $('connect-extension').addEventListener('click', () => {
    const w = extensionObject();
    if (w) void action(() => connect(new ExtensionWallet(w)));
  });
  $('connect-elsewhere').addEventListener(
    'click',
    () => void action(() => connect(new SignElsewhereWallet(manualUi, network()))),
  );
  $('disconnect').addEventListener('click', () => {
    state.wallet = undefined;
    state.delegations = [];
    state.pending.clear();
    renderAll();
  });
  $('fp-more').addEventListener(
    'click',
    () =>
      void action(async () => {
        const page = await api.finalityProviders(state.fpNextKey);
        state.fps = [...state.fps, ...page.data.filter((f) => !state.fps.some((x) => x.btc_pk === f.btc_pk))];
        state.fpNextKey = page.nextKey;
        renderProviders();
      }),
  );
  $('del-next').addEventListener(
    'click',
    () =>
      void action(async () => {
        state.delKeys.push(state.delNextKey);
        await loadDelegations();
        renderDelegations();
      }),
  );
  $('del-prev').addEventListener(
    'click',
    () =>
      void action(async () => {
        if (state.delKeys.length > 1) state.delKeys.pop();
        await loadDelegations();
        renderDelegations();
      }),
  );
}

wire();
renderAll();
void refresh();
setInterval(() => void refresh(), REFRESH_MS);
