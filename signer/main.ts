#!/usr/bin/env -S npx tsx
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { answerStandardCommand, runMain, untilStopSignal } from '../common/index.ts';
import { startSigner } from './app.ts';
import { verifyAuditFile } from './audit.ts';
import { loadSignerConfig } from './config.ts';

const HELP = `covenant-signer: Babylon phase-1 covenant signer (mutual TLS, HSM or offline-wallet custody)

Usage:
  npx tsx signer/main.ts start --config <signer.toml>
      Runs the signer. Before listening it self-tests (custody reachable and unlocked, a held key in
      the params, bitcoind reachable, synced, on the configured network) and refuses to start on any
      failure. SIGHUP reloads the params file (append-only: a file that changes or removes a version,
      or appends one activating at or below the tip plus the confirmation depth, is refused and
      the old params stay). SIGTERM or SIGINT: finish requests in flight, record the
      stop in the audit log, exit.
      Every option can be overridden from the environment: SIGNER__<SECTION>__<KEY>, e.g.
      SIGNER__SERVER__PORT=9791, SIGNER__LOG__LEVEL=debug.

  npx tsx signer/main.ts verify-audit <audit.jsonl>
      Proves the audit log's hash chain intact, or names the first bad line. Exit 0 if intact, 1 if not.

  npx tsx signer/main.ts sample-config
      Prints a commented sample configuration.

  Key ceremony (initialise a token, generate or import a key, show it, sealed backups):
  npx tsx hsm/ceremonyCli.ts --help

Docs: signer/README.md`;

const SAMPLE = `# covenant signer configuration (TOML). Every key can be overridden: SIGNER__<SECTION>__<KEY>.
[server]
host = "0.0.0.0"                 # listen address of the mutual-TLS API
port = 9791
tls_cert_file = "/etc/signer/tls/server.crt"
tls_key_file = "/etc/signer/tls/server.key"
client_ca_file = "/etc/signer/tls/clients-ca.crt"   # CA of the staking providers' client certificates
clients = [                      # only these client certificates get an answer (SHA-256 fingerprints)
  { name = "provider-a-pipeline", fingerprint_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" },  # placeholder: the client certificate's SHA-256 (openssl x509 -noout -fingerprint -sha256)
]
body_limit_bytes = 16384
rate_limit_per_minute = 60000    # per client
max_concurrent_requests = 256
headers_timeout_ms = 10000       # TLS handshake and request headers
request_timeout_ms = 15000       # the whole request, headers and body
keep_alive_timeout_ms = 120000   # idle kept-alive connection
max_connections = 1024
refusal_log_lines_per_minute = 60   # TLS refusals and rate-limited requests logged one by one; the rest summed

[metrics]                        # plain HTTP: /metrics, /healthz, /readyz
host = "127.0.0.1"
port = 2112

[params]
file = "/etc/signer/global-params.json"

[bitcoind]                       # the signer's own node, with txindex=1
url = "http://127.0.0.1:8332"
cookie_file = "/var/lib/bitcoind/.cookie"   # or user = "..." with password_file = "..."
network = "mainnet"              # mainnet | testnet | signet | regtest
timeout_ms = 10000

[audit]
file = "/var/lib/signer/audit.jsonl"

[policy]
max_staking_transaction_height = 0   # refuse stakes included above this height (labs signer's cutoff); 0 = off

[log]
level = "info"

[custody]                        # see hsm/README.md for every backend's options
backend = "pkcs11"
`;

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const standard = answerStandardCommand(command, HELP, SAMPLE);
  if (standard !== undefined) return standard;
  if (command === 'verify-audit') {
    const { positionals, values } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { file: { type: 'string' } },
    });
    const file = values.file ?? positionals[0];
    if (!file) {
      console.error('verify-audit needs the audit log file');
      return 2;
    }
    const v = verifyAuditFile(file);
    if (v.ok) {
      console.log(`audit log intact: ${v.records} records, last hash ${v.lastHash}`);
      return 0;
    }
    console.error(
      `audit log BROKEN at line ${v.line}: ${v.reason} (${v.records} records before it are intact)`,
    );
    return 1;
  }
  if (command === 'start') {
    const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
    if (!values.config) {
      console.error('start needs --config <signer.toml> (see: sample-config)');
      return 2;
    }
    const signer = await startSigner(loadSignerConfig(values.config), {
      baseDir: dirname(resolve(values.config)),
    });
    process.on('SIGHUP', () => {
      void signer.reloadParams();
    });
    await untilStopSignal(() => signer.stop());
    return 0;
  }
  console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

runMain('covenant-signer', main);
