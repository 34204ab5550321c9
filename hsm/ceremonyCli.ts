// The key-ceremony command line: `npx tsx hsm/ceremonyCli.ts <command> --config <signer.toml> …`.
// A thin wrapper over the library functions in hsm/ceremony.ts. Secrets never come from argv: PINs and
// passphrases from files (mode 0600) or environment variables named on the command line, a private
// key from standard input. Output is JSON on stdout (public keys only); logs and errors go to stderr.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { isCodedError } from '../common/index.ts';
import type { GlobalParams } from '../params/index.ts';
import { loadParamsFile } from '../runtime/index.ts';
import {
  type CustodyConfig,
  exportBackup,
  generateKey,
  importBackup,
  importKey,
  initToken,
  loadCustodyConfigFile,
  parsePrivateKey,
  type SecretSource,
  showKey,
} from './index.ts';

const HELP = `Covenant key ceremonies for the signer's custody backend.

Usage: npx tsx hsm/ceremonyCli.ts <command> --config <signer.toml> [options]

The [custody] table of the config file selects the backend (pkcs11, bitcoind-wallet or file)
and its settings; see hsm/README.md.

Commands:
  init-token      Initialise a SoftHSM token with the config's token_label and user PIN
                  (pin_file/pin_env). The SO PIN comes from --so-pin-file or --so-pin-env.
                  For a real HSM, initialise the token with the vendor's tool instead.
  generate-key    Generate the covenant key inside the custody backend: pkcs11 generates it
                  with the token's RNG and seals it there (creating the KEK if absent);
                  bitcoind-wallet takes a new key from the wallet's HD chain; file writes a
                  new encrypted key file. Never overwrites an existing key.
  import-key      Import an existing private key (a migration), read from STANDARD INPUT as
                  64 hex digits or a WIF. Never from the command line.
  show-key        Open the backend with all its checks and print the x-only and compressed
                  public key and the backend's health. With --params <global-params.json>,
                  also the params versions whose covenant committee lists the key.
  export-backup   Write a sealed backup (--out <file>, mode 0600, never overwritten): the key
                  encrypted under a passphrase-derived key (scrypt + AES-256-GCM), with its
                  public key. Passphrase: --passphrase-file or --passphrase-env (12+ chars).
                  pkcs11 and file only; back up a bitcoind wallet with backupwallet.
  import-backup   Restore a sealed backup (--in <file>) into the configured backend (e.g. a
                  fresh token); checks the restored key against the recorded public key.

Options:
  --config <file>          signer TOML config with a [custody] table (required)
  --params <file>          global params JSON (show-key)
  --out <file>             backup to write (export-backup)
  --in <file>              backup to read (import-backup)
  --so-pin-file <file>     file holding the SO PIN (init-token)
  --so-pin-env <NAME>      environment variable holding the SO PIN (init-token)
  --passphrase-file <file> file holding the backup passphrase
  --passphrase-env <NAME>  environment variable holding the backup passphrase
  -h, --help               this text

Output: one JSON object on stdout. Exit status: 0 success, 1 refused (the error code and
sentence on stderr, e.g. "error HSM_KEY_EXISTS: ..."), 2 usage error.

No command prints or logs private key material.
`;

const COMMANDS = [
  'init-token',
  'generate-key',
  'import-key',
  'show-key',
  'export-backup',
  'import-backup',
] as const;
type Command = (typeof COMMANDS)[number];

class UsageError extends Error {}

function secretSource(values: Record<string, unknown>, name: string, what: string): SecretSource {
  const file = values[`${name}-file`];
  const env = values[`${name}-env`];
  if ((file === undefined) === (env === undefined)) {
    throw new UsageError(`give exactly one of --${name}-file and --${name}-env for the ${what}`);
  }
  return typeof file === 'string' ? { file } : { env: env as string };
}

function need(values: Record<string, unknown>, name: string, command: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`${command} needs --${name} <file>`);
  return v;
}

/** Reads standard input (at most 4 KiB) as bytes; never decoded to a string. */
async function readStdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of process.stdin) {
      const b = chunk as Buffer;
      chunks.push(b);
      size += b.length;
      if (size > 4096) throw new UsageError('standard input is longer than a private key');
    }
    return Buffer.concat(chunks);
  } finally {
    for (const c of chunks) c.fill(0);
  }
}

async function loadParams(file: string): Promise<GlobalParams> {
  return loadParamsFile(file).params;
}

async function run(
  command: Command,
  values: Record<string, unknown>,
  config: CustodyConfig,
): Promise<unknown> {
  const logger = pino(
    { name: 'custody-ceremony', base: { backend: config.kind } },
    pino.destination({ dest: 2, sync: true }),
  );
  const opts = { logger };
  switch (command) {
    case 'init-token': {
      await initToken(config, { soPin: secretSource(values, 'so-pin', 'SO PIN') });
      return { command, token: config.kind === 'pkcs11' ? config.tokenLabel : undefined };
    }
    case 'generate-key':
      return { command, backend: config.kind, ...(await generateKey(config, opts)) };
    case 'import-key': {
      if (process.stdin.isTTY)
        process.stderr.write('reading the private key from standard input (end with Ctrl-D)\n');
      const input = await readStdinBytes();
      let key: Uint8Array;
      try {
        key = parsePrivateKey(input);
      } finally {
        input.fill(0);
      }
      return { command, backend: config.kind, ...(await importKey(config, key, opts)) };
    }
    case 'show-key': {
      const params = typeof values.params === 'string' ? await loadParams(values.params) : undefined;
      return { command, ...(await showKey(config, { ...opts, ...(params ? { params } : {}) })) };
    }
    case 'export-backup': {
      const out = need(values, 'out', command);
      const info = await exportBackup(config, {
        ...opts,
        out,
        passphrase: secretSource(values, 'passphrase', 'backup passphrase'),
      });
      return { command, backend: config.kind, backup: out, ...info };
    }
    case 'import-backup': {
      const from = need(values, 'in', command);
      const info = await importBackup(config, {
        ...opts,
        from,
        passphrase: secretSource(values, 'passphrase', 'backup passphrase'),
      });
      return { command, backend: config.kind, backup: from, ...info };
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        params: { type: 'string' },
        out: { type: 'string' },
        in: { type: 'string' },
        'so-pin-file': { type: 'string' },
        'so-pin-env': { type: 'string' },
        'passphrase-file': { type: 'string' },
        'passphrase-env': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    // parseArgs names the offending option, never a value of a known one.
    process.stderr.write(`usage error: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (!command || !(COMMANDS as readonly string[]).includes(command) || extra.length > 0) {
    process.stderr.write(
      `usage error: ${command ? `unknown command or extra argument: ${[command, ...extra].join(' ')}` : 'no command'}\n\n${HELP}`,
    );
    return 2;
  }
  try {
    if (typeof values.config !== 'string') throw new UsageError('--config <file> is required');
    const config = await loadCustodyConfigFile(values.config);
    const result = await run(command as Command, values, config);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`usage error: ${e.message}\n`);
      return 2;
    }
    if (isCodedError(e)) {
      process.stderr.write(`error ${e.code}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`error: unexpected failure: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
