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
    ['api', 'queue.url', /queue\.url must be an amqp:\/\/ or amqps:\/\/ URL/],
    ['api', 'queue.prefix', /queue\.prefix must be .*letters/],
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
