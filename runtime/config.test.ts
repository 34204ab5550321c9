import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { configSchema, loadConfig } from './config.ts';
import { readSecretText } from './secrets.ts';

const schema = configSchema({
  type: 'object',
  additionalProperties: false,
  required: ['server'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      properties: {
        port: { type: 'integer', default: 9791 },
        host: { type: 'string', default: '127.0.0.1' },
        clients: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'OK';
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
};

describe('loadConfig: TOML, then environment, then schema', () => {
  it('fills defaults', () => {
    writeFileSync(join(dir, 'a.toml'), '[server]\n');
    const c = loadConfig({ file: join(dir, 'a.toml'), envPrefix: 'T', schema, env: {} });
    expect(c).toEqual({ server: { port: 9791, host: '127.0.0.1' } });
  });

  it('lets the environment override the file, coercing strings and reading JSON lists', () => {
    writeFileSync(join(dir, 'a.toml'), '[server]\nport = 1\n');
    const c = loadConfig({
      file: join(dir, 'a.toml'),
      envPrefix: 'T',
      schema,
      env: { T__SERVER__PORT: '8080', T__SERVER__CLIENTS: '["a","b"]', OTHER__SERVER__PORT: '1' },
    });
    expect(c.server.port).toBe(8080);
    expect(c.server.clients).toEqual(['a', 'b']);
    expect(Object.isFrozen(c.server)).toBe(true);
  });

  it('refuses an unknown key, naming it', () => {
    writeFileSync(join(dir, 'a.toml'), '[server]\nprot = 1\n');
    expect(() => loadConfig({ file: join(dir, 'a.toml'), envPrefix: 'T', schema, env: {} })).toThrow(
      /server\.prot is not a known option/,
    );
  });

  it('names the environment variable, not the file, when an override is wrong', () => {
    writeFileSync(join(dir, 'a.toml'), '[server]\nport = 1\n');
    const load = (env: Record<string, string>) => () =>
      loadConfig({ file: join(dir, 'a.toml'), envPrefix: 'T', schema, env });
    expect(load({ T__SERVER__PORT: 'abc' })).toThrow(
      /^environment variable T__SERVER__PORT: server\.port must be integer$/,
    );
    expect(load({ T__SERVER__PROT: '1' })).toThrow(
      /^environment variable T__SERVER__PROT: server\.prot is not a known option$/,
    );
    expect(load({ T__SERVER__CLIENTS: '{"a":1}' })).toThrow(/^environment variable T__SERVER__CLIENTS: /);
  });

  it('blames the file for its own mistakes even when the environment is also wrong', () => {
    writeFileSync(join(dir, 'a.toml'), '[server]\nhost = [1, 2]\n');
    expect(() =>
      loadConfig({ file: join(dir, 'a.toml'), envPrefix: 'T', schema, env: { T__SERVER__PORT: 'x' } }),
    ).toThrow(/environment variable T__SERVER__PORT: .*; invalid configuration in .*a\.toml: server\.host/);
  });

  it('says what a pattern-checked value should look like, not the regular expression', () => {
    const patterned = configSchema({
      type: 'object',
      additionalProperties: false,
      properties: {
        fp: { type: 'string', pattern: '^[0-9a-f]{64}$', hint: '64 hexadecimal digits' },
        name: { type: 'string', pattern: '^[a-z]+$' },
      },
    } as const);
    let message = '';
    try {
      loadConfig({ envPrefix: 'T', schema: patterned, env: { T__FP: 'xyz', T__NAME: 'A1' } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      'environment variable T__FP, T__NAME: fp must be 64 hexadecimal digits; name is not in the expected format',
    );
    expect(message).not.toContain('^');
  });

  it.each([
    [
      'a missing file',
      () => loadConfig({ file: join(dir, 'nope.toml'), envPrefix: 'T', schema, env: {} }),
      'CONFIG_UNREADABLE',
    ],
    [
      'bad TOML',
      () => {
        writeFileSync(join(dir, 'b.toml'), '[server');
        return loadConfig({ file: join(dir, 'b.toml'), envPrefix: 'T', schema, env: {} });
      },
      'CONFIG_INVALID_TOML',
    ],
    [
      'a value of the wrong type',
      () => loadConfig({ envPrefix: 'T', schema, env: { T__SERVER__PORT: 'eighty' } }),
      'CONFIG_INVALID',
    ],
    ['a missing required section', () => loadConfig({ envPrefix: 'T', schema, env: {} }), 'CONFIG_INVALID'],
    [
      'bad JSON in the environment',
      () => loadConfig({ envPrefix: 'T', schema, env: { T__SERVER__CLIENTS: '[a' } }),
      'CONFIG_INVALID',
    ],
  ])('refuses %s', (_n, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });
});

describe('loadConfig: renamed options keep loading for one release', () => {
  const current = configSchema({
    type: 'object',
    additionalProperties: false,
    required: ['rabbitmq', 'params'],
    properties: {
      rabbitmq: {
        type: 'object',
        additionalProperties: false,
        properties: { url: { type: 'string' }, prefetch: { type: 'integer', default: 1 } },
      },
      params: { type: 'object', additionalProperties: false, properties: { file: { type: 'string' } } },
    },
  } as const);
  const renamed = [
    { from: 'queue', to: 'rabbitmq' },
    { from: 'params.global_params_file', to: 'params.file' },
  ];
  const load = (toml: string, env: NodeJS.ProcessEnv = {}) => {
    writeFileSync(join(dir, 'r.toml'), toml);
    const warnings: string[] = [];
    const config = loadConfig({
      file: join(dir, 'r.toml'),
      envPrefix: 'T',
      schema: current,
      env,
      renamed,
      warn: (m) => warnings.push(m),
    });
    return { config, warnings };
  };

  it('loads the new names without a warning', () => {
    const { config, warnings } = load('[rabbitmq]\nurl = "amqp://x"\n[params]\nfile = "p.json"\n');
    expect(config).toEqual({ rabbitmq: { url: 'amqp://x', prefetch: 1 }, params: { file: 'p.json' } });
    expect(warnings).toEqual([]);
  });

  it('reads the old names from the file as the new ones, with a warning naming both', () => {
    const { config, warnings } = load('[queue]\nurl = "amqp://x"\n[params]\nglobal_params_file = "p.json"\n');
    expect(config).toEqual({ rabbitmq: { url: 'amqp://x', prefetch: 1 }, params: { file: 'p.json' } });
    expect(warnings).toEqual([
      expect.stringMatching(
        /r\.toml: "queue" is a deprecated name, read for this release only: rename it "rabbitmq"$/,
      ),
      expect.stringMatching(/r\.toml: "params\.global_params_file" is a deprecated name.*"params\.file"$/),
    ]);
  });

  it('reads an old environment variable as the new one, naming the variable to set instead', () => {
    const { config, warnings } = load('[rabbitmq]\nurl = "amqp://x"\n[params]\nfile = "p.json"\n', {
      T__QUEUE__PREFETCH: '4',
    });
    expect(config.rabbitmq.prefetch).toBe(4);
    expect(warnings).toEqual([
      'environment variable T__QUEUE__PREFETCH uses the deprecated name "queue", read for this release only: set T__RABBITMQ__PREFETCH instead',
    ]);
  });

  it('still blames an old environment variable for a bad value', () => {
    expect(() => load('[params]\nfile = "p.json"\n', { T__QUEUE__PREFETCH: 'many' })).toThrow(
      /^environment variable T__QUEUE__PREFETCH: rabbitmq\.prefetch must be integer$/,
    );
  });

  it.each([
    [
      'both in the file',
      '[queue]\nurl = "a"\n[rabbitmq]\nurl = "b"\n[params]\nfile = "p"\n',
      {},
      /queue\.url \(in .*r\.toml\) is the deprecated name of rabbitmq\.url \(in .*r\.toml\): set only rabbitmq\.url/,
    ],
    [
      'an option and its old name',
      '[rabbitmq]\n[params]\nfile = "p"\nglobal_params_file = "q"\n',
      {},
      /params\.global_params_file .* is the deprecated name of params\.file/,
    ],
    [
      'the file new, the environment old',
      '[rabbitmq]\nurl = "a"\n[params]\nfile = "p"\n',
      { T__QUEUE__URL: 'b' },
      /queue\.url \(environment variable T__QUEUE__URL\) is the deprecated name of rabbitmq\.url \(in .*\)/,
    ],
  ])('refuses the old and the new name of one option set together: %s', (_n, toml, env, message) => {
    let error: unknown;
    try {
      load(toml, env);
    } catch (e) {
      error = e;
    }
    expect(isCodedError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('merges an old table with the new one when they set different options', () => {
    const { config, warnings } = load('[rabbitmq]\nurl = "a"\n[queue]\nprefetch = 3\n[params]\nfile = "p"\n');
    expect(config.rabbitmq).toEqual({ url: 'a', prefetch: 3 });
    expect(warnings).toHaveLength(1);
  });

  it('warns through Node as a DeprecationWarning when no warn is given', () => {
    writeFileSync(join(dir, 'r.toml'), '[queue]\n[params]\nfile = "p"\n');
    const seen: unknown[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation((...args: unknown[]) => {
      seen.push(args);
    });
    try {
      loadConfig({ file: join(dir, 'r.toml'), envPrefix: 'T', schema: current, env: {}, renamed });
    } finally {
      spy.mockRestore();
    }
    expect(seen).toEqual([
      [
        expect.stringContaining('"queue" is a deprecated name'),
        { type: 'DeprecationWarning', code: 'CONFIG_DEPRECATED_NAME' },
      ],
    ]);
  });
});

describe('readSecretText', () => {
  it('reads a 0600 secret without its trailing newline', async () => {
    const f = join(dir, 'pin');
    writeFileSync(f, 'secret\n', { mode: 0o600 });
    expect(await readSecretText(f, 'PIN')).toBe('secret');
  });
  it('refuses a secret readable by others, and never shows it', async () => {
    const f = join(dir, 'pin');
    writeFileSync(f, 'hunter2');
    chmodSync(f, 0o644);
    let message = '';
    try {
      await readSecretText(f, 'PIN');
    } catch (e) {
      expect(isCodedError(e, 'CONFIG_SECRET_PERMISSIONS')).toBe(true);
      message = (e as Error).message;
    }
    expect(message).toMatch(/chmod 600/);
    expect(message).not.toContain('hunter2');
  });
  it('refuses a missing secret file', async () => {
    const e = await readSecretText(join(dir, 'none'), 'PIN').catch((x: unknown) => x);
    expect(isCodedError(e, 'CONFIG_SECRET_UNREADABLE')).toBe(true);
  });
});
