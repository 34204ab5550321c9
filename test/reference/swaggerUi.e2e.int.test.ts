/**
 * Issue 25 item 8 in a real browser: Swagger UI at /docs and at the reference's /swagger/ (P1 =
 * babylonlabs-io/staking-api-service@e63b18c2bc6f0ab1e312f75aa0a152e816d9f1cf
 * internal/api/routes.go serves `/swagger/*`) renders the API's operations under the API's CSP,
 * with no CSP refusal and no request to another origin. Headless Chromium; a scratch database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApi, startApi } from '../../api/app.ts';
import type { ApiConfig } from '../../api/config.ts';
import { testApiConfig } from '../../api/testkit.ts';
import { createScratchDatabase, type ScratchDatabase } from '../../db/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-sync',
];

let scratch: ScratchDatabase;
let config: ApiConfig;
let api: RunningApi;
let profileDir: string;
let context: BrowserContext;

beforeAll(async () => {
  scratch = await createScratchDatabase('api_swagger_ui');
  config = testApiConfig({ dbUrl: scratch.url });
  api = await startApi(config);
  profileDir = mkdtempSync(join(tmpdir(), 'swagger-ui-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
}, 120_000);
afterAll(async () => {
  await context?.close();
  await api?.stop();
  await scratch?.drop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  if (config) rmSync(dirname(config.params.file), { recursive: true, force: true });
});

describe('Swagger UI in a browser', () => {
  it.each(['/docs', '/swagger/'])(
    '%s lists the operations with no CSP refusal and no third-party request',
    async (path) => {
      const problems: string[] = [];
      const page = await context.newPage();
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      // CSP refusals are reported as console errors.
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      await page.route(
        (url) => !url.href.startsWith(api.url),
        (route) => {
          problems.push(`request to another origin: ${route.request().url()}`);
          return route.abort();
        },
      );
      try {
        await page.goto(`${api.url}${path}`);
        await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
        const paths = await page.$$eval('.opblock-summary-path', (els) =>
          els.map((e) => e.textContent?.trim()),
        );
        expect(paths).toContain('/v1/staker/delegations');
        expect(paths).toContain('/v1/staker/pubkey-lookup');
        // Opening an operation renders its schemas (the part most likely to need inline styles).
        await page.click('#operations-default-get_v1_staker_delegations .opblock-summary');
        await page.waitForSelector('#operations-default-get_v1_staker_delegations .parameters', {
          timeout: 10_000,
        });
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    },
  );
});
