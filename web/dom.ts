/// <reference lib="dom" />
/** The page's few DOM helpers: element lookup, element building, and the hash and copy widgets. */

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

export const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);
export const button = (id: string): HTMLButtonElement => $<HTMLButtonElement>(id);

export type Child = Node | string | null | undefined | false;
export function h(
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

/**
 * A long hex value on one line, cut in the middle by CSS (`.hash`): the head shrinks behind an
 * ellipsis and the tail stays, so two hashes stay tellable apart at any width. The full value is
 * the element's text, so it is what a screen reader, a search and a text selection get.
 */
export function hashEl(hex: string, attrs: Record<string, string> = {}): HTMLElement {
  const tail = hex.length > 12 ? 6 : 0;
  return h(
    'code',
    { class: 'hash', title: hex, ...attrs },
    h('span', { class: 'hash-head' }, hex.slice(0, hex.length - tail)),
    tail ? h('span', { class: 'hash-tail' }, hex.slice(-tail)) : null,
  );
}

/** A button that copies `value`; it says "Copied" for a moment so the click is seen to work. */
export function copyButton(value: string, what: string): HTMLElement {
  const b = h('button', { type: 'button', class: 'copy secondary', 'aria-label': `Copy ${what}` }, 'Copy');
  b.addEventListener('click', () => {
    void navigator.clipboard?.writeText(value).then(
      () => {
        b.textContent = 'Copied';
        setTimeout(() => {
          b.textContent = 'Copy';
        }, 1500);
      },
      () => undefined,
    );
  });
  return b;
}

/**
 * The block explorer the operator configured (`dashboard.explorer_url`, written by the API into
 * the page's `<meta name="staking-explorer-url">`); none by default, so the page links nowhere
 * else unless the operator chose a place.
 */
export function explorerBase(): string | undefined {
  const v = document.querySelector<HTMLMetaElement>('meta[name="staking-explorer-url"]')?.content ?? '';
  return /^https?:\/\/[^\s"<>]+$/.test(v) ? v.replace(/\/+$/, '') : undefined;
}

/** A link to a transaction or address on the configured explorer, or nothing without one. */
export function explorerLink(kind: 'tx' | 'address', id: string): HTMLElement | null {
  const base = explorerBase();
  if (!base) return null;
  return h(
    'a',
    {
      class: 'explorer',
      href: `${base}/${kind}/${encodeURIComponent(id)}`,
      target: '_blank',
      rel: 'noopener noreferrer',
    },
    'Explorer',
    h(
      'span',
      { class: 'visually-hidden' },
      ` (${kind === 'tx' ? 'transaction' : 'address'} ${id.slice(0, 8)}…)`,
    ),
  );
}

/** A hash with its copy button and, when configured, its explorer link, kept on one line. */
export function hashWithTools(
  hex: string,
  what: string,
  kind: 'tx' | 'address' | undefined,
  attrs = {},
): HTMLElement {
  return h(
    'span',
    { class: 'hash-tools' },
    hashEl(hex, attrs),
    copyButton(hex, what),
    kind ? explorerLink(kind, hex) : null,
  );
}
