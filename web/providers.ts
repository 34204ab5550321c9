/// <reference lib="dom" />
/** The finality providers table: pick one by its radio or anywhere on its row. */
import type { FinalityProviderRow } from './api.ts';
import { $, h, hashWithTools } from './dom.ts';
import { formatBtc } from './format.ts';
import { renderStatus } from './overview.ts';
import { state } from './state.ts';

export const providerName = (fp: FinalityProviderRow): string =>
  fp.description.moniker || '(not in the registry)';

/** Only web addresses become links: a registry entry is free text and could hold `javascript:`. */
function websiteLink(url: string): HTMLElement | null {
  const u = url.trim();
  if (!/^https?:\/\/[^\s"<>]+$/i.test(u)) return null;
  return h(
    'a',
    { href: u, target: '_blank', rel: 'noopener noreferrer nofollow', class: 'fp-website' },
    u.replace(/^https?:\/\//i, '').replace(/\/$/, ''),
  );
}

let shown = '';

export function renderProviders(onPick: (fp: FinalityProviderRow) => void): void {
  // Rebuilding rows that did not change would take the keyboard focus away at every refresh.
  const load = state.load.fps;
  const key = JSON.stringify([
    state.fps,
    state.fp?.btc_pk,
    state.fpNextKey,
    load.kind,
    load.kind === 'error' && load.message,
  ]);
  if (key === shown) return;
  shown = key;
  const rows = state.fps.map((fp) => {
    const name = providerName(fp);
    const picked = state.fp?.btc_pk === fp.btc_pk;
    const radio = h('input', {
      type: 'radio',
      name: 'fp',
      value: fp.btc_pk,
      id: `fp-${fp.btc_pk}`,
      checked: picked,
    }) as HTMLInputElement;
    radio.addEventListener('change', () => onPick(fp));
    const tr = h(
      'tr',
      { 'data-fp': fp.btc_pk, class: picked ? 'picked' : undefined },
      h('td', { class: 'pick' }, radio),
      h(
        'td',
        { 'data-label': 'Provider' },
        h('label', { for: radio.id, class: 'fp-name' }, name),
        fp.description.details && h('span', { class: 'fp-details' }, fp.description.details),
        websiteLink(fp.description.website),
      ),
      h(
        'td',
        { class: 'num', 'data-label': 'Commission' },
        fp.commission ? `${(Number(fp.commission) * 100).toFixed(2)} %` : '—',
      ),
      h('td', { class: 'num', 'data-label': 'Active stake' }, formatBtc(fp.active_tvl)),
      h(
        'td',
        { class: 'num', 'data-label': 'Delegations' },
        `${fp.active_delegations} active / ${fp.total_delegations}`,
      ),
      h('td', { 'data-label': 'Key' }, hashWithTools(fp.btc_pk, `${name}'s key`, undefined)),
    );
    // The whole row picks, as a person expects of a list of choices; its buttons and links keep
    // their own meaning.
    tr.addEventListener('click', (ev) => {
      const t = ev.target as HTMLElement;
      if (t.closest('button, a, input, label')) return;
      if (!radio.checked) {
        radio.checked = true;
        onPick(fp);
      }
    });
    return tr;
  });
  $('fp-rows').replaceChildren(...rows);
  $('fp-table').hidden = rows.length === 0;
  renderStatus(
    'fp-status',
    state.load.fps,
    'finality providers',
    rows.length > 0,
    rows.length === 0 ? 'No finality provider is registered.' : undefined,
  );
  $('fp-more').hidden = state.fpNextKey === '';
}
