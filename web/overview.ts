/// <reference lib="dom" />
/** The header line and the System section: TVL figures, the params in force, the staking cap. */
import { isOverflow, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import { $, h } from './dom.ts';
import { blocksAndTime, formatBtc } from './format.ts';
import { type LoadStatus, REFRESH_MS, state } from './state.ts';

export const tip = (): number | undefined => state.btc?.tip_height ?? undefined;

/** The params version a transaction broadcast now would be judged by (the next height's). */
export function nextVersion(): ParamsVersion | undefined {
  const t = tip();
  return state.params && t !== undefined ? selectParamsForHeight(state.params, t + 1) : undefined;
}

export type CapState =
  | { readonly by: 'value'; readonly stakedSat: bigint; readonly capSat: bigint; readonly full: boolean }
  | {
      readonly by: 'height';
      readonly capHeight: number;
      readonly blocksLeft: number;
      readonly full: boolean;
    };

/**
 * How full the next height's version is: a stake confirmed now into a full cap is overflow
 * (params/'s `isOverflow`, the rule the indexer decides with).
 */
export function capState(): CapState | undefined {
  const v = nextVersion();
  const t = tip();
  if (!v || t === undefined || !state.btc) return undefined;
  const stakedSat = BigInt(state.btc.unconfirmed_tvl);
  const full = isOverflow(v, t + 1, stakedSat);
  if (v.capHeight !== 0) return { by: 'height', capHeight: v.capHeight, blocksLeft: v.capHeight - t, full };
  return { by: 'value', stakedSat, capSat: v.stakingCapSat, full };
}

const time = (d: Date) => d.toLocaleTimeString('en-GB');
const retry = `the page retries every ${REFRESH_MS / 1000} s`;

/**
 * One sentence for a section whose data is not (all) there: loading, failed with nothing to show,
 * or failed with older figures still shown. Undefined when the last read worked.
 */
export function statusText(s: LoadStatus, what: string, hasData: boolean): string | undefined {
  if (s.kind === 'loading') return `Loading ${what}…`;
  if (s.kind === 'ok') return undefined;
  // The client's own sentence for an unreachable API already says that the page retries.
  const reason = s.message.replace(/;? the page retries on its own\.$/, '').replace(/\.$/, '');
  return hasData && s.at
    ? `Showing ${what} from ${time(s.at)}: the latest read failed (${reason}); ${retry}.`
    : `${what[0]!.toUpperCase()}${what.slice(1)} could not be loaded: ${reason}; ${retry}.`;
}

/** Fills a section's status line; `data-status` is loading, error, stale or empty, or absent. */
export function renderStatus(
  id: string,
  s: LoadStatus,
  what: string,
  hasData: boolean,
  empty?: string,
): void {
  const el = $(id);
  const text = statusText(s, what, hasData);
  const kind =
    s.kind === 'loading'
      ? 'loading'
      : s.kind === 'error'
        ? hasData
          ? 'stale'
          : 'error'
        : empty
          ? 'empty'
          : '';
  // Rewriting the same sentence would have screen readers announce it again at every refresh.
  const next = text ?? empty ?? '';
  if (el.textContent !== next) el.textContent = next;
  el.hidden = el.textContent === '';
  if (kind) el.dataset.status = kind;
  else delete el.dataset.status;
}

export function renderChain(): void {
  const b = state.btc;
  const s = state.load.btc;
  const el = $('chain');
  if (b) {
    el.textContent = `${b.network} · BTC tip ${b.tip_height ?? 'not reported yet'} · ${
      s.kind === 'ok'
        ? `refreshed ${time(s.at)}`
        : `not refreshed since ${s.kind === 'error' && s.at ? time(s.at) : '—'}`
    }`;
  } else {
    el.textContent =
      s.kind === 'error' ? 'No answer from the staking API yet.' : 'Connecting to the staking API…';
  }
}

export function renderOverview(): void {
  const s = state.stats;
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
  $('stats').hidden = cards.length === 0;
  renderStatus('stats-status', state.load.stats, 'system figures', s !== undefined);
  renderParams();
}

function renderParams(): void {
  const params = state.params;
  const t = tip();
  const el = $('params');
  // The params come once and never change; the tip comes with every refresh.
  const missing = !params ? state.load.params : state.btc === undefined ? state.load.btc : undefined;
  if (missing) {
    el.replaceChildren(
      h(
        'p',
        { id: 'params-status', class: 'status', 'data-status': missing.kind },
        statusText(missing, params ? 'the BTC tip' : 'staking parameters', false) ?? '',
      ),
    );
    renderCap();
    return;
  }
  if (!params || t === undefined) {
    // Answered, but the indexer has not reported a block yet: a state of its own, not a failure.
    el.replaceChildren(
      h(
        'p',
        { id: 'params-status', class: 'status', 'data-status': 'waiting' },
        'The indexer has not reported the BTC tip yet; parameters and the cap show once it has.',
      ),
    );
    renderCap();
    return;
  }
  const next = t + 1;
  const current = selectParamsForHeight(params, next);
  const upcoming = params.versions.find((v) => v.activationHeight > next);
  el.replaceChildren(
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
  renderCap();
}

function renderCap(): void {
  const el = $('cap');
  const c = capState();
  const v = nextVersion();
  if (!c || !v) {
    el.replaceChildren();
    return;
  }
  if (c.by === 'height') {
    el.replaceChildren(
      h(
        'p',
        { id: 'cap-label', 'data-full': String(c.full) },
        c.full
          ? `Staking cap reached: version ${v.version} closed at height ${c.capHeight}.`
          : `Staking cap: by height — version ${v.version} takes stakes until height ${c.capHeight} (${blocksAndTime(c.blocksLeft)} left).`,
      ),
    );
    return;
  }
  const pct = Number((c.stakedSat * 10_000n) / c.capSat) / 100;
  const shown = Math.min(pct, 100);
  // Through the CSSOM: the page's CSP (style-src 'self') refuses style attributes in markup.
  const fill = h('div');
  fill.style.width = `${shown}%`;
  el.replaceChildren(
    h(
      'p',
      { id: 'cap-label', 'data-full': String(c.full) },
      c.full
        ? `Staking cap reached: ${formatBtc(c.stakedSat)} staked against a cap of ${formatBtc(c.capSat)} (counting unconfirmed stakes); new stakes would be overflow.`
        : `Staking cap: ${formatBtc(c.stakedSat)} of ${formatBtc(c.capSat)} (${pct.toFixed(1)} %, counting unconfirmed stakes).`,
    ),
    h(
      'div',
      {
        class: c.full ? 'bar full' : 'bar',
        role: 'progressbar',
        'aria-label': 'Staking cap used',
        'aria-valuemin': '0',
        'aria-valuemax': '100',
        'aria-valuenow': String(shown),
        id: 'cap-bar',
      },
      fill,
    ),
  );
}
