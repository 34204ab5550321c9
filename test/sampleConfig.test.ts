import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadApiConfig } from '../api/config.ts';
import { isCodedError } from '../common/index.ts';
import { loadIndexerConfig } from '../indexer/config.ts';
import { loadPipelineConfig } from '../pipeline/config.ts';
import { loadSignerConfig } from '../signer/config.ts';

/**
 * What `sample-config` prints is what an operator starts from: each service's own loader must take
 * it as it is (placeholders are valid values that are obviously placeholders), and a pattern
 * failure must read as a sentence, not as a regular expression.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sample-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const samples = new Map<string, string>();
function sampleOf(service: string): string {
  const known = samples.get(service);
  if (known !== undefined) return known;
  const text = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, service, 'main.ts'), 'sample-config'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  samples.set(service, text);
  return text;
}

const LOADERS: Record<string, (file: string, env: NodeJS.ProcessEnv) => unknown> = {
  signer: loadSignerConfig,
  indexer: loadIndexerConfig,
  api: loadApiConfig,
  pipeline: loadPipelineConfig,
};

describe('every service’s sample-config loads with its own loader', () => {
  for (const [service, load] of Object.entries(LOADERS)) {
    it(service, () => {
      const text = sampleOf(service);
      expect(text.length).toBeGreaterThan(100);
      const file = join(dir, `${service}.toml`);
      writeFileSync(file, text);
      // No environment: the file alone must be a valid configuration.
      expect(() => load(file, {})).not.toThrow();
    });
  }
});

describe('pattern failures read as sentences', () => {
  const messageOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      if (isCodedError(e)) return e.message;
      throw e;
    }
    throw new Error('loaded');
  };
  const regexLike = /[\\^$]|\{\d|\[[^\]]*-/;

  it.each([
    [
      'signer',
      'server.clients.0.fingerprint_sha256',
      /server\.clients\.0\.fingerprint_sha256 must be .*64 hex/,
    ],
    ['signer', 'server.clients.0.name', /server\.clients\.0\.name must be .*letters/],
    ['signer', 'bitcoind.url', /bitcoind\.url must be an http:\/\/ or https:\/\/ URL/],
    ['indexer', 'bitcoind.url', /bitcoind\.url must be an http:\/\/ or https:\/\/ URL/],
    ['indexer', 'rabbitmq.url', /rabbitmq\.url must be an amqp:\/\/ or amqps:\/\/ URL/],
    ['indexer', 'rabbitmq.prefix', /rabbitmq\.prefix must be .*letters/],
    ['api', 'database.url', /database\.url must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['api', 'rabbitmq.url', /rabbitmq\.url must be an amqp:\/\/ or amqps:\/\/ URL/],
    ['api', 'rabbitmq.prefix', /rabbitmq\.prefix must be .*letters/],
  ])('%s %s', (service, option, expected) => {
    const file = join(dir, `${service}-bad.toml`);
    writeFileSync(file, sampleOf(service));
    const [section, ...rest] = option.split('.');
    const key = rest.at(-1)!.toUpperCase();
    const prefix = service.toUpperCase();
    const env: NodeJS.ProcessEnv = option.startsWith('server.clients.0.')
      ? {
          SIGNER__SERVER__CLIENTS: JSON.stringify([
            { name: 'pipeline', fingerprint_sha256: 'ab'.repeat(32), [rest.at(-1)!]: 'not valid!' },
          ]),
        }
      : { [`${prefix}__${section!.toUpperCase()}__${key}`]: 'not valid!' };
    const message = messageOf(() => LOADERS[service]!(file, env));
    expect(message).toMatch(expected);
    expect(message).not.toMatch(regexLike);
  });
});

/** What this release renamed in each sample, new → old: the old names must load for one release. */
const OLD_NAMES: Record<string, ReadonlyArray<readonly [RegExp, string]>> = {
  signer: [[/^\[ops\]/m, '[metrics]']],
  indexer: [[/^\[ops\]/m, '[metrics]']],
  pipeline: [[/^\[ops\]/m, '[metrics]']],
  api: [
    [/^\[ops\]/m, '[metrics]'],
    [/^\[rabbitmq\]/m, '[queue]'],
    [/^\[bitcoind\]/m, '[bitcoin]'],
    [
      /^file = "\/etc\/staking-api\/global-params\.json"/m,
      'global_params_file = "/etc/staking-api/global-params.json"',
    ],
  ],
};
const LOADERS_WARNING: Record<
  string,
  (file: string, env: NodeJS.ProcessEnv, warn: (m: string) => void) => unknown
> = {
  signer: loadSignerConfig,
  indexer: loadIndexerConfig,
  api: loadApiConfig,
  pipeline: loadPipelineConfig,
};

describe('names this release changed still load, with a warning, for one release', () => {
  for (const [service, renames] of Object.entries(OLD_NAMES)) {
    const load = LOADERS_WARNING[service]!;
    it(`${service}: the old names load as the new ones, each with a warning naming both`, () => {
      const current = join(dir, `${service}-current.toml`);
      writeFileSync(current, sampleOf(service));
      const quiet: string[] = [];
      const expected = load(current, {}, (m) => quiet.push(m));
      expect(quiet).toEqual([]);

      let old = sampleOf(service);
      for (const [now, before] of renames) {
        expect(old).toMatch(now);
        old = old.replace(now, before);
      }
      const oldFile = join(dir, `${service}-old.toml`);
      writeFileSync(oldFile, old);
      const warnings: string[] = [];
      expect(load(oldFile, {}, (m) => warnings.push(m))).toEqual(expected);
      expect(warnings).toHaveLength(renames.length);
      expect(warnings[0]).toMatch(
        /"metrics" is a deprecated name, read for this release only: rename it "ops"/,
      );
    });

    it(`${service}: an old environment variable loads too, naming the new one`, () => {
      const current = join(dir, `${service}-current.toml`);
      writeFileSync(current, sampleOf(service).replace(/^\[ops\][^\n]*\n(?:(?!\[)[^\n]*\n)*/m, ''));
      const prefix = service.toUpperCase();
      const warnings: string[] = [];
      const c = load(current, { [`${prefix}__METRICS__PORT`]: '2999' }, (m) => warnings.push(m)) as {
        ops: { port: number };
      };
      expect(c.ops.port).toBe(2999);
      expect(warnings).toEqual([
        `environment variable ${prefix}__METRICS__PORT uses the deprecated name "metrics", read for this release only: set ${prefix}__OPS__PORT instead`,
      ]);
    });

    it(`${service}: the old and the new name of one option together are refused (CONFIG_INVALID)`, () => {
      const current = join(dir, `${service}-current.toml`);
      writeFileSync(current, sampleOf(service));
      const prefix = service.toUpperCase();
      let error: unknown;
      try {
        load(current, { [`${prefix}__METRICS__PORT`]: '2999' }, () => {});
      } catch (e) {
        error = e;
      }
      expect(isCodedError(error, 'CONFIG_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(
        new RegExp(
          `metrics\\.port \\(environment variable ${prefix}__METRICS__PORT\\) is the deprecated name of ops\\.port`,
        ),
      );
    });
  }

  it('api: the old queue, bitcoin and params names set beside the new ones are refused, naming both', () => {
    const file = join(dir, 'api-both.toml');
    writeFileSync(file, sampleOf('api'));
    const messageOf = (env: NodeJS.ProcessEnv) => {
      try {
        loadApiConfig(file, env, () => {});
      } catch (e) {
        if (isCodedError(e, 'CONFIG_INVALID')) return e.message;
        throw e;
      }
      return 'loaded';
    };
    expect(messageOf({ API__QUEUE__URL: 'amqp://other' })).toMatch(
      /queue\.url .* is the deprecated name of rabbitmq\.url/,
    );
    expect(messageOf({ API__BITCOIN__NETWORK: 'regtest' })).toMatch(
      /bitcoin\.network .* is the deprecated name of bitcoind\.network/,
    );
    expect(messageOf({ API__PARAMS__GLOBAL_PARAMS_FILE: '/p.json' })).toMatch(
      /params\.global_params_file .* is the deprecated name of params\.file/,
    );
  });
});
