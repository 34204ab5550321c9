/// <reference lib="dom" />
/**
 * What a person sets in motion: connecting a wallet, staking, unbonding, withdrawing. Protocol work
 * is staking/'s (through txbuild.ts); this is the order of the steps and what is said on the way.
 */
import { toHex } from '../common/index.ts';
import { selectParamsForHeight } from '../params/index.ts';
import {
  type BitcoinNetwork,
  buildStakingOutputs,
  buildUnfundedStakingTx,
  parseTransaction,
} from '../staking/index.ts';
import { api, type Delegation } from './api.ts';
import { loadBalance, loadDelegations, loadPending, savePending } from './data.ts';
import { fpNameOf } from './delegations.ts';
import { confirmDialog } from './dialogs.ts';
import { $, h, hashEl } from './dom.ts';
import { blocksAndTime, formatBtc, shortHex } from './format.ts';
import { clearError, isCancel, notify, orCancelled, showError } from './messages.ts';
import { tip } from './overview.ts';
import { form, stakeCheck } from './stakeForm.ts';
import { state } from './state.ts';
import {
  buildStakingDraft,
  buildUnbondingDraft,
  buildWithdrawDraft,
  checkSignedStakingTx,
  finishStakingTx,
  finishWithdraw,
  stakerKeyOf,
  unbondingRequest,
} from './txbuild.ts';
import type { WalletAccount, WalletProvider } from './wallet.ts';

const network = (): BitcoinNetwork => state.btc?.network ?? 'mainnet';

/** Runs a user action with the page marked busy; its failure lands in the banner. */
export async function action(render: () => void, run: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  // The button that started it is disabled while busy, so a dialog cannot hand the focus back to
  // it on closing; it gets it back here, once enabled, unless the person moved on meanwhile.
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
  state.busy = true;
  document.body.classList.add('busy');
  render();
  clearError();
  try {
    await run();
  } catch (e) {
    if (!isCancel(e)) showError(e);
  } finally {
    state.busy = false;
    document.body.classList.remove('busy');
    render();
    // Lost: nowhere, or still on a button of the dialog that just closed.
    const at = document.activeElement;
    const lost = !at || at === document.body || at.closest('dialog:not([open])') !== null;
    if (lost && opener?.isConnected) opener.focus();
  }
}

export async function connect(provider: WalletProvider): Promise<void> {
  const account: WalletAccount | undefined = await orCancelled(provider.connect());
  if (!account) return;
  state.wallet = { provider, account, stakerPkHex: toHex(stakerKeyOf(account.publicKeyHex)) };
  state.delKeys = [''];
  state.stakedSat = undefined;
  state.balanceSat = undefined;
  state.load.delegations = { kind: 'loading' };
  state.load.balance = { kind: 'loading' };
  loadPending();
  form.touched.add('wallet');
  await Promise.all([loadDelegations(), loadBalance()]);
}

export function disconnect(): void {
  state.wallet = undefined;
  state.delegations = [];
  state.stakedSat = undefined;
  state.balanceSat = undefined;
  state.pending.clear();
}

export async function doStake(render: () => void): Promise<void> {
  form.submitted = true;
  const c = stakeCheck();
  render();
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
    const check = (signed: string) =>
      checkSignedStakingTx({ version, outputs }, parseTransaction(signed, 'the signed transaction'));
    const signed = await orCancelled(w.provider.fundAndSign(unfunded.toHex(), (s) => void check(s)));
    if (signed === undefined) {
      status.textContent = 'Cancelled.';
      return;
    }
    txHex = check(signed).toHex();
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
        check: (s) => void finishStakingTx(draft, s, net),
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
  status.replaceChildren(
    'Broadcast ',
    hashEl(txid),
    `: pending until ${version.confirmationDepth} blocks confirm it.`,
  );
  form.submitted = false;
  form.touched.clear();
  // The pending stake shows now; the wallet's new balance follows when the wallet answers.
  render();
  await loadBalance();
}

const stakeWords = (d: Delegation) =>
  `${formatBtc(d.staking_value)} staked with ${fpNameOf(d.finality_provider_pk_hex) ?? shortHex(d.finality_provider_pk_hex)}`;

export async function doUnbond(d: Delegation): Promise<void> {
  const w = state.wallet;
  const params = state.params;
  if (!w || !params) return;
  const v = selectParamsForHeight(params, d.staking_tx.start_height);
  const wait = blocksAndTime(v?.unbondingTime ?? 0);
  await confirmDialog({
    title: 'Unbond this stake?',
    body: [
      h('p', {}, `${stakeWords(d)} in `, hashEl(d.staking_tx_hash_hex), '.'),
      `Unbonding ends this stake for good: it stops counting from when the covenant committee co-signs. The unbonding transaction pays ${formatBtc(v?.unbondingFeeSat ?? 0)} from the stake, and the rest can be withdrawn ${wait} after it confirms.`,
      'Your wallet is asked to sign the unbonding transaction next.',
    ],
    confirmLabel: 'Unbond',
  });
  const draft = buildUnbondingDraft(d, params, network(), w.account.publicKeyHex);
  const net = network();
  const signed = await orCancelled(
    w.provider.signPsbt({
      purpose: 'unbonding',
      psbtHex: draft.psbt.toHex(),
      psbtBase64: draft.psbt.toBase64(),
      inputs: draft.inputsToSign,
      finalize: false,
      check: (s) => void unbondingRequest(draft, s, net),
    }),
  );
  if (signed === undefined) return;
  await api.requestUnbonding(unbondingRequest(draft, signed, net));
  notify(
    `Unbonding requested for ${shortHex(d.staking_tx_hash_hex)}: the covenant committee co-signs and the unbonding transaction is broadcast; the funds are withdrawable ${wait} after it confirms.`,
  );
  await loadDelegations();
}

/** The withdraw's own fee rate starts where the stake form's does; the person sets it in the dialog. */
const DEFAULT_FEE_RATE = '2';

export async function doWithdraw(d: Delegation): Promise<void> {
  const w = state.wallet;
  const t = tip();
  const params = state.params;
  if (!w || !params || t === undefined) return;
  const net = network();
  const { feeRate } = await confirmDialog({
    title: 'Withdraw this stake?',
    body: [
      h('p', {}, `${stakeWords(d)} in `, hashEl(d.staking_tx_hash_hex), '.'),
      h(
        'p',
        {},
        'It goes to your address ',
        h('code', { class: 'wrap' }, w.account.address),
        ', less the fee this rate pays.',
      ),
    ],
    confirmLabel: 'Withdraw',
    feeRate: DEFAULT_FEE_RATE,
  });
  const draft = buildWithdrawDraft({
    delegation: d,
    params,
    network: net,
    tipHeight: t,
    toAddress: w.account.address,
    feeRate: feeRate!,
    publicKeyHex: w.account.publicKeyHex,
  });
  const signed = await orCancelled(
    w.provider.signPsbt({
      purpose: 'withdraw',
      psbtHex: draft.psbt.toHex(),
      psbtBase64: draft.psbt.toBase64(),
      inputs: draft.inputsToSign,
      finalize: false,
      check: (s) => void finishWithdraw(draft, s, net),
    }),
  );
  if (signed === undefined) return;
  const tx = finishWithdraw(draft, signed, net);
  const txid = await orCancelled(w.provider.broadcast(tx.toHex()));
  if (txid === undefined) return;
  notify(
    `Withdraw ${shortHex(txid)} broadcast: ${formatBtc(draft.prevout.valueSat - draft.feeSat)} to ${w.account.address} (fee ${formatBtc(draft.feeSat)}).`,
  );
  await loadBalance();
}
