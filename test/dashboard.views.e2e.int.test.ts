// biome-ignore-all lint/suspicious/noExplicitAny: axe's results and the page's JSON cross in untyped
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoSystem, startDemoSystem } from '../demo/system.ts';
import { createApi } from '../web/api.ts';
import { buildDashboard } from '../web/build.ts';
import { launchWithWallet, testWallet } from './dashboardKit.ts';

/**
 * The dashboard as a staker meets it (issue 24), on a phone (390×844) and a desktop (1440×900):
 * every view fits the width with every action button on screen and clickable, passes axe-core's
 * WCAG 2.1 AA rules, and loading, empty, a failing route and an unreachable API each say so in
 * their own words while the rest of the page keeps what it has. The page is the real build served
 * by the demo's regtest API; single routes are made slow, empty, failing or changed with
 * playwright's interception. Screenshots of each view land in test-artifacts/dashboard-views/.
 */
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard-views');
const VIEWPORTS = [
  { width: 390, height: 844 },
  { width: 1440, height: 900 },
] as const;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const EXPLORER = 'http://127.0.0.1:9/explorer';

let sys: DemoSystem;
let distDir: string;
let profileDir: string;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const wallet = testWallet(() => sys, 'dashboard-views-staker');

async function shot(name: string) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Buttons a person can see: inside an open modal dialog only that dialog's, as the page allows. */
async function visibleButtons() {
  const modal = (await page.locator('dialog[open]').count()) > 0;
  const all = page.locator(modal ? 'dialog[open] button' : 'body > :not(dialog) button');
  const out = [];
  for (let i = 0; i < (await all.count()); i++) if (await all.nth(i).isVisible()) out.push(all.nth(i));
  return out;
}

/** A button looked at went away under a refresh: not a finding, a reason to look again. */
class PageChanged extends Error {}

async function checkButton(b: Locator, vp: { width: number }, label: string): Promise<void> {
  const what = `${label}: button “${(await b.textContent())?.trim()}”`;
  await b.scrollIntoViewIfNeeded();
  const box = await b.boundingBox();
  if (!box) throw new PageChanged(`${what} is gone`);
  expect(box.x, what).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width, what).toBeLessThanOrEqual(vp.width);
  expect(Math.min(box.width, box.height), what).toBeGreaterThanOrEqual(24);
  if (await b.isEnabled()) await b.click({ trial: true, timeout: 5_000 });
}

/**
 * One view at both sizes: no sideways scroll, every visible button inside the viewport's width,
 * at least 24×24 px, and hit by a click at its centre (playwright's actionability check: visible,
 * stable, enabled, and not covered); then axe-core; then a screenshot.
 */
async function checkView(name: string): Promise<void> {
  for (const vp of VIEWPORTS) {
    await page.setViewportSize(vp);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
    const label = `${name} at ${vp.width}px`;
    expect(await page.evaluate(() => document.documentElement.scrollWidth), label).toBe(vp.width);
    // The page re-renders its sections at every refresh (1 s here): a button found a moment ago
    // may have been replaced, or moved in the list, so a pass that met one is done again.
    for (let attempt = 1; ; attempt++) {
      try {
        const buttons = await visibleButtons();
        expect(buttons.length, label).toBeGreaterThan(0);
        for (const b of buttons) await checkButton(b, vp, label);
        break;
      } catch (e) {
        if (attempt >= 5 || !(e instanceof PageChanged || /not attached|detached/i.test(String(e)))) throw e;
      }
    }
    const radios = page.locator('#fp-rows input[type=radio]');
    for (let i = 0; i < (await radios.count()); i++) {
      const box = await radios.nth(i).boundingBox();
      if (box) expect(Math.min(box.width, box.height), `${label}: radio`).toBeGreaterThanOrEqual(24);
    }
    if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE });
    const violations = await page.evaluate(
      async (tags) =>
        (
          (await (window as any).axe.run(document, { runOnly: { type: 'tag', values: tags } })) as any
        ).violations.map(
          (v: any) => `${v.id}: ${v.help} — ${v.nodes.map((n: any) => n.target.join(' ')).join(', ')}`,
        ),
      WCAG_21_AA,
    );
    expect(violations, label).toEqual([]);
    await shot(`${name}-${vp.width}`);
  }
}

/** Replaces the JSON of one API route's answers (the real answer, changed) until `undo` is called. */
async function rewrite(pattern: string, change: (body: any) => any): Promise<() => Promise<void>> {
  let undone = false;
  const handler = async (route: Route) => {
    const res = await route.fetch();
    const body = change(await res.json());
    try {
      await route.fulfill({ response: res, json: body });
    } catch (e) {
      // Unrouted while this answer was being fetched: Playwright has let the request through
      // unchanged already, which is what undo asks for; any other failure is the test's.
      if (!(undone && /already handled/i.test(String(e)))) throw e;
    }
  };
  await page.route(pattern, handler);
  return () => {
    undone = true;
    return page.unroute(pattern, handler);
  };
}

async function mineUntilState(txid: string, state: string, maxBlocks: number) {
  for (let i = 0; i <= maxBlocks; i++) {
    await sys.waitForSync();
    if ((await createApi(sys.apiUrl).delegation(txid))?.state === state) return;
    if (i < maxBlocks) await sys.mine(1);
  }
  throw new Error(`delegation ${txid} did not reach ${state} within ${maxBlocks} blocks`);
}

const text = (sel: string) => page.textContent(sel);
const status = (id: string) => page.getAttribute(`#${id}`, 'data-status');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  distDir = mkdtempSync(join(tmpdir(), 'dashboard-views-dist-'));
  await buildDashboard(distDir);
  process.env.API__DASHBOARD__DIR = distDir;
  // An explorer on this machine's discard port: its links are checked, never followed.
  process.env.API__DASHBOARD__EXPLORER_URL = EXPLORER;
  sys = await startDemoSystem();
  profileDir = mkdtempSync(join(tmpdir(), 'dashboard-views-chromium-'));
  // axe-core is added to the page as a script of its own; the page's CSP (rightly) refuses that.
  // dashboard.e2e.int.test.ts keeps the CSP and fails on any refusal.
  context = await launchWithWallet(profileDir, wallet, { viewport: VIEWPORTS[1], bypassCSP: true });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await context.route(
    (url) => !url.href.startsWith(sys.apiUrl),
    (route) => {
      pageErrors.push(`request to another origin: ${route.request().url()}`);
      return route.abort();
    },
  );
  await sys.wallet.sendtoaddress(wallet.address, 500_000_000n);
  await sys.mineTo(117);
  await sys.waitForSync();
}, 300_000);

afterAll(async () => {
  await context?.close();
  await sys?.stop();
  delete process.env.API__DASHBOARD__DIR;
  delete process.env.API__DASHBOARD__EXPLORER_URL;
  for (const d of [distDir, profileDir]) if (d) rmSync(d, { recursive: true, force: true });
});

// A recovery shows only at the page's next retry, 1 s after the failure it saw, plus the fetch:
// longer than expect.poll's default 1 s window on a loaded machine.
const AFTER_RETRY = { timeout: 5_000 } as const;

describe('the dashboard’s views at 390 and 1440 px wide', () => {
  it('says “loading” while the API has not answered, and never “no provider”', async () => {
    const held: Route[] = [];
    const hold = (route: Route) => void held.push(route);
    await page.route('**/v1/**', hold);
    await page.goto(`${sys.apiUrl}/?refresh=1`);
    await expect.poll(() => status('fp-status')).toBe('loading');
    expect(await text('#fp-status')).toBe('Loading finality providers…');
    expect(await text('#stats-status')).toBe('Loading system figures…');
    expect(await status('params-status')).toBe('loading');
    expect(await text('#chain')).toBe('Connecting to the staking API…');
    expect(await text('main')).not.toContain('No finality provider');
    expect(await page.isHidden('#banner')).toBe(true);
    await checkView('01-loading');
    await page.unroute('**/v1/**', hold);
    for (const r of held) await r.continue().catch(() => undefined);
    await expect.poll(() => page.locator('#fp-rows tr').count()).toBe(3);
  });

  it('shows the system, the providers with their details and website, and picks a provider by its row', async () => {
    await expect.poll(() => text('#chain')).toContain('BTC tip 117');
    expect(await page.isHidden('#stats-status')).toBe(true);
    expect(await text('#stat-active-tvl')).toBe('0 BTC');
    expect(await page.locator('#fp-rows a.fp-website').count()).toBe(3);
    expect(await page.locator('#fp-rows .fp-details').count()).toBe(3);
    // Commission as the reference writes it.
    expect(await page.locator('#fp-rows td[data-label=Commission]').first().textContent()).toMatch(
      /^\d+\.\d\d %$/,
    );
    await checkView('02-overview');
    // A click anywhere on a row picks it, at either size.
    for (const [vp, name] of [
      [VIEWPORTS[0], 'Bravo'],
      [VIEWPORTS[1], 'Charlie'],
    ] as const) {
      await page.setViewportSize(vp);
      const fp = sys.finalityProviders.find((f) => f.moniker === name)!;
      await page.locator(`#fp-rows tr[data-fp="${fp.btcPkHex}"] td[data-label="Active stake"]`).click();
      expect(await text('#stake-fp-name')).toBe(name);
      expect(await page.isChecked(`#fp-rows tr[data-fp="${fp.btcPkHex}"] input[type=radio]`)).toBe(true);
    }
  });

  it('says “no provider is registered” only when the API answered an empty list', async () => {
    const undo = await rewrite('**/v1/finality-providers*', () => ({
      data: [],
      pagination: { next_key: '' },
    }));
    await page.reload();
    await expect.poll(() => status('fp-status')).toBe('empty');
    expect(await text('#fp-status')).toBe('No finality provider is registered.');
    expect(await page.isHidden('#fp-table')).toBe(true);
    await expect.poll(() => text('#stat-active-tvl')).toBe('0 BTC');
    await checkView('03-empty');
    await undo();
  });

  it('keeps the rest of the page when one route fails, and says which part is missing or old', async () => {
    const fail = (route: Route) =>
      route.fulfill({ status: 500, json: { code: 'INTERNAL_SERVER_ERROR', message: 'stats store down' } });
    await page.route('**/v1/stats', fail);
    await page.reload();
    await expect.poll(() => status('stats-status')).toBe('error');
    expect(await text('#stats-status')).toContain(
      'System figures could not be loaded: The staking API refused: stats store down (INTERNAL_SERVER_ERROR); the page retries every 1 s.',
    );
    expect(await page.locator('#fp-rows tr').count()).toBe(3);
    expect(await text('#params-current')).toContain('version 0');
    expect(await text('#chain')).toContain('BTC tip 117');
    expect(await page.isHidden('#banner')).toBe(true);
    expect(await text('#overview')).not.toContain('Waiting for the indexer');
    await checkView('04-partial-failure');
    // Figures read before a failure stay, marked with their age.
    await page.unroute('**/v1/stats', fail);
    await expect.poll(() => text('#stat-active-tvl'), AFTER_RETRY).toBe('0 BTC');
    await page.route('**/v1/stats', fail);
    await expect.poll(() => status('stats-status'), AFTER_RETRY).toBe('stale');
    expect(await text('#stats-status')).toMatch(
      /^Showing system figures from \d\d:\d\d:\d\d: the latest read failed/,
    );
    expect(await text('#stat-active-tvl')).toBe('0 BTC');
    await page.unroute('**/v1/stats', fail);

    // The tip alone failing: the figures and providers stay, the parameters say what they lack.
    await page.route('**/v1/btc-info', fail);
    await page.reload();
    await expect.poll(() => status('params-status')).toBe('error');
    expect(await text('#params-status')).toBe(
      'The BTC tip could not be loaded: The staking API refused: stats store down (INTERNAL_SERVER_ERROR); the page retries every 1 s.',
    );
    await expect.poll(() => text('#stat-active-tvl')).toBe('0 BTC');
    await expect.poll(() => page.locator('#fp-rows tr').count()).toBe(3);
    expect(await page.isHidden('#banner')).toBe(true);
    await checkView('04b-tip-failing');
    await page.unroute('**/v1/btc-info', fail);
    await expect.poll(() => text('#chain'), AFTER_RETRY).toContain('BTC tip 117');
    await expect.poll(() => page.locator('#params-current').count(), AFTER_RETRY).toBe(1);
  });

  it('tells an unreachable API apart from an empty one, before and after it had answered', async () => {
    const down = (route: Route) => route.abort('connectionrefused');
    await expect.poll(() => page.locator('#fp-rows tr').count()).toBe(3);
    await page.route('**/v1/**', down);
    await expect
      .poll(() => text('#banner'))
      .toBe('The staking API cannot be reached; the page retries on its own.');
    await expect.poll(() => status('fp-status')).toBe('stale');
    expect(await page.locator('#fp-rows tr').count()).toBe(3);
    expect(await status('stats-status')).toBe('stale');
    expect(await text('#stat-active-tvl')).toBe('0 BTC');
    expect(await text('#chain')).toContain('not refreshed since');
    await checkView('05-api-down-after-answers');

    await page.reload();
    await expect.poll(() => status('fp-status')).toBe('error');
    expect(await text('#fp-status')).toBe(
      'Finality providers could not be loaded: The staking API cannot be reached; the page retries every 1 s.',
    );
    expect(await status('stats-status')).toBe('error');
    expect(await status('params-status')).toBe('error');
    expect(await text('#chain')).toBe('No answer from the staking API yet.');
    expect(await text('main')).not.toContain('No finality provider');
    await checkView('06-api-down');

    await page.unroute('**/v1/**', down);
    await expect.poll(() => page.locator('#fp-rows tr').count()).toBe(3);
    await expect.poll(() => page.isHidden('#banner')).toBe(true);
  });

  let txid = '';
  it('ties form errors to their inputs, stakes, and shows the staker’s stake, balance and delegation', async () => {
    await page.click('#connect-extension');
    await expect.poll(() => text('#wallet-address')).toContain(wallet.address);
    await expect.poll(() => text('#wallet-balance')).toBe('5 BTC');
    await expect.poll(() => text('#wallet-staked')).toBe('0 BTC');
    expect(await text('#del-status')).toBe('No delegations yet: your stakes show here once confirmed.');
    const alpha = sys.finalityProviders.find((f) => f.moniker === 'Alpha')!;
    await page.click(`#fp-rows tr[data-fp="${alpha.btcPkHex}"] .fp-name`);
    expect(await text('#stake-fp-name')).toBe('Alpha');
    await page.fill('#amount', '0.5');
    await page.fill('#time', '100');
    await expect.poll(() => page.getAttribute('#amount', 'aria-invalid')).toBe('true');
    const describedBy = (await page.getAttribute('#amount', 'aria-describedby'))!;
    expect(await text(`#${describedBy}`)).toBe(
      '0.5 BTC is below the minimum stake of 1 BTC under params version 0.',
    );
    expect(await page.getAttribute('#time', 'aria-invalid')).toBeNull();
    await checkView('07-validation');

    await page.fill('#amount', '2');
    await expect.poll(() => page.getAttribute('#amount', 'aria-invalid')).toBeNull();
    await page.click('#stake-submit');
    await expect.poll(() => text('#stake-status'), { timeout: 20_000 }).toMatch(/^Broadcast [0-9a-f]{64}/);
    txid = (await text('#stake-status'))!.slice('Broadcast '.length, 'Broadcast '.length + 64);
    await checkView('08-pending');
    await mineUntilState(txid, 'active', 4);
    const row = page.locator(`#del-rows tr[data-tx="${txid}"]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('active');
    await expect.poll(() => text('#wallet-staked')).toBe('2 BTC');
    // The hash keeps to one line at both sizes, cut in the middle, whole in its title and text.
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      const hash = row.locator('code.hash').first();
      expect(await hash.getAttribute('title')).toBe(txid);
      expect(await hash.textContent()).toBe(txid);
      expect(await hash.evaluate((e) => e.getClientRects().length)).toBe(1);
      expect((await hash.boundingBox())!.height).toBeLessThan(24);
    }
    // The configured explorer, linked from the staking tx and the address, opened only on a click.
    const link = row.locator('a.explorer');
    expect(await link.getAttribute('href')).toBe(`${EXPLORER}/tx/${txid}`);
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await page.getAttribute('#wallet-address a.explorer', 'href')).toBe(
      `${EXPLORER}/address/${wallet.address}`,
    );
    expect(await row.locator('button.copy').getAttribute('aria-label')).toBe('Copy staking transaction id');
    await checkView('09-delegation');
  });

  it('asks before unbonding, and Cancel changes nothing', async () => {
    const row = page.locator(`#del-rows tr[data-tx="${txid}"]`);
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      await row.locator('button.unbond').click();
      await expect
        .poll(() => page.locator('#confirm').evaluate((d) => (d as HTMLDialogElement).open))
        .toBe(true);
      expect(await text('#confirm-title')).toBe('Unbond this stake?');
      await page.click('#confirm-cancel');
      expect(await page.locator('#confirm').evaluate((d) => (d as HTMLDialogElement).open)).toBe(false);
    }
    // From the keyboard: Enter opens it, Escape is a no as well, and the focus is back on the
    // button it came from, across the refreshes that happened meanwhile.
    await row.locator('button.unbond').focus();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.locator('#confirm').evaluate((d) => (d as HTMLDialogElement).open))
      .toBe(true);
    await page.waitForTimeout(1_500);
    await page.keyboard.press('Escape');
    await expect
      .poll(() => page.locator('#confirm').evaluate((d) => (d as HTMLDialogElement).open))
      .toBe(false);
    await expect
      .poll(() => row.locator('button.unbond').evaluate((b) => b === document.activeElement))
      .toBe(true);
    await row.locator('button.unbond').click();
    await checkView('10-unbond-confirm');
    await page.click('#confirm-cancel');
    expect(await row.getAttribute('data-state')).toBe('active');
    expect(await page.isHidden('#banner')).toBe(true);
    expect(wallet.broadcast).toHaveLength(1);
  });

  it('gives the withdraw its own fee rate', async () => {
    // The delegation as it will be once unbonded: the withdraw button and its dialog, no signing.
    const undo = await rewrite('**/v1/staker/delegations*', (b) => ({
      ...b,
      data: b.data.map((d: any) => ({
        ...d,
        state: 'unbonding',
        unbonding_tx: { ...d.staking_tx, start_height: d.staking_tx.start_height - 10, timelock: 3 },
      })),
    }));
    const withdraw = page.locator(`#del-rows tr[data-tx="${txid}"] button.withdraw`);
    await expect.poll(() => withdraw.count(), { timeout: 10_000 }).toBe(1);
    await page.fill('#fee-rate', '7');
    await withdraw.click();
    await expect.poll(() => text('#confirm-title')).toBe('Withdraw this stake?');
    expect(await page.inputValue('#confirm-fee-rate')).toBe('2');
    await page.fill('#confirm-fee-rate', 'abc');
    await page.click('#confirm-submit');
    await expect
      .poll(() => text('#confirm-error'))
      .toBe('Enter a fee rate of at least 1 sat/vB (nodes do not relay less).');
    expect(await page.getAttribute('#confirm-fee-rate', 'aria-describedby')).toBe('confirm-error');
    await checkView('11-withdraw-confirm');
    await page.click('#confirm-cancel');
    await page.fill('#fee-rate', '2');
    await undo();
  });

  it('shows an overflow stake as “Overflow” with its warning, not as active', async () => {
    const undo = await rewrite('**/v1/staker/delegations*', (b) => ({
      ...b,
      data: b.data.map((d: any) => ({ ...d, is_overflow: true })),
    }));
    const row = page.locator(`#del-rows tr[data-tx="${txid}"]`);
    await expect.poll(() => row.getAttribute('data-overflow'), { timeout: 10_000 }).toBe('true');
    expect(await row.locator('.state').textContent()).toBe('Overflow');
    expect(await row.locator('.state').getAttribute('class')).toBe('state overflow');
    expect(await row.locator('.warning').textContent()).toContain('never active stake');
    expect(await row.locator('.state.active').count()).toBe(0);
    await checkView('12-overflow');
    await undo();
    await expect.poll(() => row.getAttribute('data-overflow'), { timeout: 10_000 }).toBe('false');
  });

  it('puts “Staking cap reached” in place of the form when the cap is full', async () => {
    const undo = await rewrite('**/v1/btc-info', (b) => ({
      data: { ...b.data, unconfirmed_tvl: 1_100_000_000 },
    }));
    await expect.poll(() => page.isVisible('#cap-reached'), { timeout: 10_000 }).toBe(true);
    expect(await page.isHidden('#stake-form')).toBe(true);
    expect(await page.locator('#stake-submit').isVisible()).toBe(false);
    expect(await text('#cap-reached')).toContain('Staking cap reached');
    expect(await text('#cap-reached-text')).toContain(
      '11 BTC is staked against the 10 BTC cap of params version 0',
    );
    expect(await text('#cap-label')).toContain('Staking cap reached');
    expect(await text('#cap-label')).not.toContain('100.0 %');
    await checkView('13-cap-full');
    await undo();
    await expect.poll(() => page.isVisible('#stake-form'), { timeout: 10_000 }).toBe(true);
  });

  it('keeps the sign-elsewhere dialog open with the error inside it after a bad paste', async () => {
    await page.click('#disconnect');
    await page.click('#connect-elsewhere');
    await expect.poll(() => text('#manual-title')).toBe('Connect: sign elsewhere');
    await checkView('14-sign-elsewhere-connect');
    await page.fill('#manual-field-address', wallet.address);
    await page.fill('#manual-field-publicKey', 'not a key');
    await page.click('#manual-submit');
    await expect.poll(() => text('#manual-error')).not.toBe('');
    expect(await page.locator('#manual').evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
    await page.fill('#manual-field-publicKey', Buffer.from(wallet.pub).toString('hex'));
    await page.click('#manual-submit');
    await expect.poll(() => text('#wallet-address')).toContain('Sign elsewhere');
    expect(await text('#wallet-balance')).toBe('held by your other wallet');

    await page.fill('#amount', '1');
    await page.fill('#time', '50');
    await page.click('#stake-submit');
    await expect.poll(() => text('#manual-title')).toBe('Fund and sign the staking transaction');
    await page.fill('#manual-field-signed', 'cHNidP8B this is no psbt');
    await page.click('#manual-submit');
    await expect.poll(() => text('#manual-error')).not.toBe('');
    expect(await page.locator('#manual').evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
    expect(await page.getAttribute('#manual-field-signed', 'aria-invalid')).toBe('true');
    expect(await page.isHidden('#banner')).toBe(true);
    await checkView('15-bad-paste');
    await page.click('#manual-cancel');
    expect(await page.locator('#manual').evaluate((d) => (d as HTMLDialogElement).open)).toBe(false);
    expect(await page.isHidden('#banner')).toBe(true);

    // The unbonding PSBT to sign elsewhere: "Use this signature" on screen; the PSBT pasted back
    // unsigned is refused inside the dialog by the page's own signature check.
    await page.locator(`#del-rows tr[data-tx="${txid}"] button.unbond`).click();
    await page.click('#confirm-submit');
    await expect.poll(() => text('#manual-title')).toBe('Sign the unbonding transaction');
    expect(await text('#manual-submit')).toBe('Use this signature');
    await checkView('16-sign-unbonding-elsewhere');
    await page.fill('#manual-field-signed', await page.inputValue('#manual-show-value'));
    await page.click('#manual-submit');
    await expect.poll(() => text('#manual-error')).not.toBe('');
    expect(await page.locator('#manual').evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
    expect(await page.isHidden('#banner')).toBe(true);
    await checkView('17-unsigned-paste');
    await page.click('#manual-cancel');
    expect(await page.locator(`#del-rows tr[data-tx="${txid}"]`).getAttribute('data-state')).toBe('active');
    expect(pageErrors).toEqual([]);
  });
});
