import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transaction } from 'bitcoinjs-lib';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import { type DemoSystem, startDemoSystem } from '../demo/system.ts';
import { createApi } from '../web/api.ts';
import { buildDashboard } from '../web/build.ts';
import { launchWithWallet, testWallet } from './dashboardKit.ts';

/**
 * The dashboard end to end (issue 8): the page built by `npm run build:web`, served by the real API
 * of the demo's regtest system (indexer, API, pipeline, three SoftHSM signers), driven in Debian's
 * headless Chromium. A test wallet is injected as `window.unisat`; its keys stay in this process
 * and sign through an exposed function, as an extension's keys stay in the extension.
 * The test stakes, sees the delegation become active, requests unbonding, sees it unbond, and
 * withdraws. Screenshots of each view land in test-artifacts/dashboard/.
 */
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard');
const STAKE_BTC = '2';
const STAKE_SAT = 200_000_000n;

let sys: DemoSystem;
let distDir: string;
let profileDir: string;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const wallet = testWallet(() => sys, 'dashboard-e2e-staker');
const { address, pub, broadcast } = wallet;
const coins = () => wallet.coins();

async function shot(name: string) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Mines one block at a time until the API reports the delegation in `state` (the pipeline and indexer run on their own). */
async function mineUntilState(txid: string, state: string, maxBlocks: number) {
  for (let i = 0; i <= maxBlocks; i++) {
    await sys.waitForSync();
    if ((await createApi(sys.apiUrl).delegation(txid))?.state === state) return;
    if (i < maxBlocks) await sys.mine(1);
  }
  throw new Error(`delegation ${txid} did not reach ${state} within ${maxBlocks} blocks`);
}

const row = (txid: string) => page.locator(`#del-rows tr[data-tx="${txid}"]`);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The dashboard is built for this run into a directory of its own, and the demo's API (a child
  // process that inherits this environment) serves that one: a concurrent `npm run build:web` in
  // the work tree cannot change the page under the test.
  distDir = mkdtempSync(join(tmpdir(), 'dashboard-e2e-dist-'));
  await buildDashboard(distDir);
  process.env.API__DASHBOARD__DIR = distDir;
  sys = await startDemoSystem();
  profileDir = mkdtempSync(join(tmpdir(), 'dashboard-e2e-chromium-'));
  context = await launchWithWallet(profileDir, wallet, { viewport: { width: 1280, height: 1000 } });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Console errors include CSP refusals (an inline style or script the policy blocked).
  page.on('console', (m) => {
    // A 404 is how the API says a just-broadcast stake is not confirmed yet: the page expects it.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      pageErrors.push(`console: ${m.text()}`);
    }
  });
  // Anything the page asks of another origin is a failure of the "works offline" rule.
  await context.route(
    (url) => !url.href.startsWith(sys.apiUrl),
    (route) => {
      pageErrors.push(`request to another origin: ${route.request().url()}`);
      return route.abort();
    },
  );
}, 300_000);

afterAll(async () => {
  await context?.close();
  await sys?.stop();
  delete process.env.API__DASHBOARD__DIR;
  for (const d of [distDir, profileDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('the staking dashboard on a regtest system', () => {
  it('stakes, sees it active, requests unbonding, sees it unbond, and withdraws', async () => {
    // Fund the test wallet and reach version 0's activation (115) with a confirmed coin.
    await sys.wallet.sendtoaddress(address, 500_000_000n);
    await sys.mineTo(117);
    await sys.waitForSync();

    await page.goto(`${sys.apiUrl}/?refresh=1`);
    await expect.poll(() => page.textContent('#chain')).toContain('BTC tip 117');
    expect(await page.textContent('#params-current')).toContain('version 0');
    expect(await page.textContent('#params-next')).toBe(
      'Next: version 1 activates at height 130 (in 13 blocks (~2 h 10 min)).',
    );
    expect(await page.textContent('#cap-label')).toContain('0 BTC of 10 BTC');
    const fpRows = page.locator('#fp-rows tr');
    await expect.poll(() => fpRows.count()).toBe(3);
    expect(await page.textContent('#fp-rows')).toContain('Alpha');
    await shot('01-overview');

    // Connect the injected extension; pick a finality provider.
    await page.click('#connect-extension');
    await expect.poll(() => page.textContent('#wallet-address')).toContain(address);
    expect(await page.textContent('#wallet-staker-key')).toBe(wallet.xOnlyHex);
    const alpha = sys.finalityProviders.find((f) => f.moniker === 'Alpha')!;
    await page.check(`#fp-rows tr[data-fp="${alpha.btcPkHex}"] input[type=radio]`);
    expect(await page.textContent('#stake-fp-name')).toBe('Alpha');

    // Bad input is explained beside the form, and nothing is signed.
    await page.fill('#amount', '0.5');
    await page.fill('#time', '5');
    await expect
      .poll(() => page.textContent('#stake-problems [data-code=AMOUNT_BELOW_MIN]'))
      .toBe('0.5 BTC is below the minimum stake of 1 BTC under params version 0.');
    expect(await page.textContent('#stake-problems [data-code=TIME_BELOW_MIN]')).toContain(
      'below the minimum staking time of 10 blocks',
    );
    await shot('02-validation');

    // A wallet that declines: a sentence in the banner, not a blank page.
    await page.fill('#amount', STAKE_BTC);
    await page.fill('#time', '100');
    await page.fill('#fee-rate', '2');
    await expect.poll(() => page.locator('#stake-problems li').count()).toBe(0);
    wallet.rejectNextSignature = true;
    await page.click('#stake-submit');
    await expect
      .poll(() => page.textContent('#banner'))
      .toBe('The wallet did not sign the staking transaction: User rejected the request.');
    expect(broadcast).toHaveLength(0);

    // Stake for real: built, signed by the wallet, broadcast, pending.
    await page.click('#stake-submit');
    await expect
      .poll(() => page.textContent('#stake-status'), { timeout: 20_000 })
      .toMatch(/^Broadcast [0-9a-f]{64}/);
    expect(broadcast).toHaveLength(1);
    const stakingTx = Transaction.fromHex(broadcast[0]!);
    const txid = stakingTx.getId();
    expect(await page.locator(`#pending [data-pending="${txid}"]`).count()).toBe(1);
    expect(await page.isHidden('#banner')).toBe(true);
    await shot('03-pending');

    // Confirmed at depth 2: the indexer reports it, the page shows it active.
    await mineUntilState(txid, 'active', 4);
    await expect.poll(() => row(txid).getAttribute('data-state'), { timeout: 15_000 }).toBe('active');
    expect(await row(txid).textContent()).toContain('2 BTC');
    await expect.poll(() => page.textContent('#stat-active-tvl')).toBe('2 BTC');
    // The cap bar is 2 of 10 BTC full.
    const bar = await page.locator('#cap-bar').boundingBox();
    const fill = await page.locator('#cap-bar > div').boundingBox();
    expect(fill!.width / bar!.width).toBeCloseTo(0.2, 2);
    expect(await page.locator(`#pending [data-pending="${txid}"]`).count()).toBe(0);
    expect(await row(txid).locator('.timelock').textContent()).toMatch(
      /^staking lock ends at \d+: 9\d blocks/,
    );
    await shot('04-active');

    // On-demand unbonding: the wallet signs the unbonding leaf, the page posts /v1/unbonding.
    await row(txid).locator('button.unbond').click();
    // Unbonding cannot be taken back: the page asks first, and nothing is signed before the yes.
    await expect.poll(() => page.textContent('#confirm-title')).toBe('Unbond this stake?');
    expect(await page.locator('#confirm').evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
    await shot('05a-unbond-confirm');
    await page.click('#confirm-submit');
    await expect
      .poll(() => page.textContent('#notice'), { timeout: 15_000 })
      .toContain('Unbonding requested');
    await expect
      .poll(() => row(txid).getAttribute('data-state'), { timeout: 15_000 })
      .toBe('unbonding_requested');
    await shot('05-unbonding-requested');

    // The pipeline collects the committee's signatures and broadcasts; blocks confirm it.
    await mineUntilState(txid, 'unbonding', 20);
    await expect.poll(() => row(txid).getAttribute('data-state'), { timeout: 15_000 }).toBe('unbonding');
    expect(await row(txid).locator('.timelock').textContent()).toMatch(
      /^unbonding lock ends at \d+: \d blocks? .*left$/,
    );
    expect(await row(txid).locator('button.withdraw').count()).toBe(0);
    await shot('06-unbonding');

    // After the unbonding timelock (3 blocks) the withdraw button appears; the wallet signs it.
    await sys.mine(3);
    await sys.waitForSync();
    const withdraw = row(txid).locator('button.withdraw');
    await expect.poll(() => withdraw.count(), { timeout: 15_000 }).toBe(1);
    await withdraw.click();
    // The withdraw has its own fee rate, in its dialog, not the stake form's.
    await expect.poll(() => page.textContent('#confirm-title')).toBe('Withdraw this stake?');
    expect(await page.inputValue('#confirm-fee-rate')).toBe('2');
    await page.fill('#confirm-fee-rate', '0');
    await page.click('#confirm-submit');
    await expect
      .poll(() => page.textContent('#confirm-error'))
      .toBe('Enter a fee rate of at least 1 sat/vB (nodes do not relay less).');
    expect(await page.getAttribute('#confirm-fee-rate', 'aria-invalid')).toBe('true');
    await page.fill('#confirm-fee-rate', '2');
    await shot('06a-withdraw-confirm');
    await page.click('#confirm-submit');
    await expect.poll(() => page.textContent('#notice'), { timeout: 15_000 }).toContain('Withdraw');
    expect(broadcast).toHaveLength(2);
    const withdrawTx = Transaction.fromHex(broadcast[1]!);
    await mineUntilState(txid, 'withdrawn', 4);
    await expect.poll(() => row(txid).getAttribute('data-state'), { timeout: 15_000 }).toBe('withdrawn');
    await shot('07-withdrawn');

    // The stake, less the unbonding fee and the withdraw's fee, is back at the wallet's address.
    const back = (await coins()).find((c) => c.txid === withdrawTx.getId());
    expect(back).toBeDefined();
    expect(BigInt(back!.satoshis)).toBe(withdrawTx.outs[0]!.value);
    expect(withdrawTx.outs[0]!.value).toBeGreaterThan(STAKE_SAT - 500n - 2_000n);
    expect(withdrawTx.outs[0]!.value).toBeLessThan(STAKE_SAT - 500n);
    expect(pageErrors).toEqual([]);
  }, 600_000);

  it('stakes through “sign elsewhere”, with Bitcoin Core funding and signing the transaction it shows', async () => {
    // The same staker key, this time without the extension: the page only shows and takes back text.
    await page.click('#disconnect');
    await page.click('#connect-elsewhere');
    await page.fill('#manual-field-address', address);
    await page.fill('#manual-field-publicKey', toHex(pub));
    await page.click('#manual-submit');
    await expect.poll(() => page.textContent('#wallet-address')).toContain('Sign elsewhere');
    // Its delegation list is the key's: the withdrawn stake of the first test is there.
    await expect.poll(() => page.locator('#del-rows tr[data-state=withdrawn]').count()).toBe(1);

    const bravo = sys.finalityProviders.find((f) => f.moniker === 'Bravo')!;
    await page.check(`#fp-rows tr[data-fp="${bravo.btcPkHex}"] input[type=radio]`);
    await page.fill('#amount', '3');
    await page.fill('#time', '200');
    await page.click('#stake-submit');

    // Step 1: the unfunded transaction; the node's wallet funds and signs it, as the dialog says.
    await expect.poll(() => page.textContent('#manual-title')).toBe('Fund and sign the staking transaction');
    const unfunded = await page.inputValue('#manual-show-value');
    expect(Transaction.fromHex(unfunded).ins).toHaveLength(0);
    // A wrong paste is refused inside the dialog, beside the field, and the dialog stays open for
    // the right one (issue 24: it used to close and put the sentence in the top banner).
    await page.fill('#manual-field-signed', 'not a transaction');
    await page.click('#manual-submit');
    await expect.poll(() => page.textContent('#manual-error')).toContain('This is not a PSBT');
    expect(await page.locator('#manual').evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
    expect(await page.getAttribute('#manual-field-signed', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#manual-field-signed', 'aria-describedby')).toBe('manual-error');
    expect(await page.isHidden('#banner')).toBe(true);
    expect(await page.textContent('#manual-title')).toBe('Fund and sign the staking transaction');
    await shot('08a-bad-paste');
    const funded = await sys.wallet.fundrawtransaction(await page.inputValue('#manual-show-value'), {
      fee_rate: 2,
    });
    const signed = await sys.wallet.signrawtransactionwithwallet(funded.hex);
    expect(signed.complete).toBe(true);
    await page.fill('#manual-field-signed', signed.hex);
    await shot('08-sign-elsewhere');
    await page.click('#manual-submit');

    // Step 2: the page checked it and shows it to broadcast elsewhere.
    await expect.poll(() => page.textContent('#manual-title')).toBe('Broadcast the transaction');
    const finalHex = await page.inputValue('#manual-show-value');
    expect(finalHex).toBe(signed.hex);
    const txid = await sys.node.rpc.sendrawtransaction(finalHex);
    await page.click('#manual-submit');
    await expect.poll(() => page.locator(`#pending [data-pending="${txid}"]`).count()).toBe(1);

    await mineUntilState(txid, 'active', 4);
    await expect.poll(() => row(txid).getAttribute('data-state'), { timeout: 15_000 }).toBe('active');
    expect(await row(txid).textContent()).toContain('3 BTC');
    expect(await row(txid).textContent()).toContain('Bravo');
    expect(pageErrors).toEqual([]);
  }, 300_000);
});
