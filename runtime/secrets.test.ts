import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOptionalSecretText, redactUrlPassword, urlWithPasswordFile } from './secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'secrets-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const secret = (name: string, text: string, mode = 0o600) => {
  const f = join(dir, name);
  writeFileSync(f, text, { mode });
  return f;
};

describe('readOptionalSecretText', () => {
  it('is undefined without a file, and the text without its trailing newline with one', async () => {
    expect(await readOptionalSecretText(undefined, 'x')).toBeUndefined();
    expect(await readOptionalSecretText(secret('a', 's3cret\n'), 'x')).toBe('s3cret');
  });
});

describe('urlWithPasswordFile', () => {
  it('leaves the URL alone without a file', async () => {
    expect(await urlWithPasswordFile('amqp://u:old@h:5672/v', undefined, 'x')).toBe('amqp://u:old@h:5672/v');
  });

  it('puts the file’s password into the URL, encoded', async () => {
    const url = await urlWithPasswordFile('amqp://staking@rabbitmq:5672/', secret('b', 'p@ss/w:rd\n'), 'x');
    expect(url).toBe('amqp://staking:p%40ss%2Fw%3Ard@rabbitmq:5672/');
    expect(decodeURIComponent(new URL(url).password)).toBe('p@ss/w:rd');
  });

  it('refuses a file others can read, naming it and never the password', async () => {
    const f = secret('c', 'hunter2', 0o644);
    const err = await urlWithPasswordFile('amqp://u@h/', f, 'queue password file').catch((e) => e);
    expect(err.code).toBe('CONFIG_SECRET_PERMISSIONS');
    expect(err.message).toContain(`queue password file ${f} has mode 0644`);
    expect(err.message).not.toContain('hunter2');
  });
});

describe('redactUrlPassword', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrlPassword('postgres://u:hunter2@db:5432/x', 'database')).toBe(
      'postgres://u:***@db:5432/x',
    );
    expect(redactUrlPassword('amqp://guest@h:5672/', 'amqp')).toBe('amqp://guest@h:5672/');
  });

  it('says which kind of URL did not parse, without echoing it', () => {
    expect(redactUrlPassword('not a url hunter2', 'amqp')).toBe('[invalid amqp url]');
  });
});
