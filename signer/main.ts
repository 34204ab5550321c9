#!/usr/bin/env -S npx tsx
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { isCodedError } from '../common/index.ts';
import { type CustodyBackend, openCustody, parseCustodyConfig } from '../hsm/index.ts';
import { answerStandardCommand, runMain, takeSighup, untilStopSignal } from '../runtime/index.ts';
import { startSigner } from './app.ts';
import {
  AuditLog,
  checkAnchor,
  readAnchor,
  readAuditFile,
  repairFromAnchor,
  verifyAuditText,
  verifyKeyedAudit,
} from './audit.ts';
import { loadSignerConfig, type SignerConfig } from './config.ts';

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

  npx tsx signer/main.ts verify-audit --config <signer.toml> [<audit.jsonl>]
      Verifies the audit log as the signer does at start: every record's MAC under custody's audit
      key, and the log against the head sealed in custody (not shorter, not diverging; a log that
      lacks only the last batch, which the anchor carries, is what a crash leaves, and start-up
      completes it: exit 0, said so). The log is audit.file of the config unless given.
  npx tsx signer/main.ts verify-audit <audit.jsonl>
      Without custody: verifies only what anyone can (each record parses, seq, prev links, the sha256
      chain) and says that the MACs and the anchor were NOT verified.
      Exit codes: 0 verified in full (MACs and anchor); 1 broken, forged, rolled back or unkeyed (the
      signer refuses it); 2 usage; 3 structure intact, MACs and anchor not verified (no --config);
      4 the log is missing or unreadable; 5 custody could not be opened, nothing verified.

  npx tsx signer/main.ts accept-audit-log --config <signer.toml> --reason "<why>"
      The operator's explicit acceptance of a log the signer refuses as rolled back (truncated, an
      older copy restored) or unkeyed (written by an older version), or whose anchor is missing. The
      log must be structurally intact and its MACs valid: a forged record is never accepted. Appends
      an audit_log_accepted record (reason, operator, old anchor, accepted head) and anchors custody
      at it. Stop the signer first. Accepting a rolled-back log means the signer forgets what the
      lost records said: check them against the other copies first (signer/README.md).

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

[ops]                            # plain HTTP: /metrics, /healthz, /readyz
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

[phase2]                         # phase-2 covenant duties: POST /v1/sign-transactions (signer/README.md)
enabled = false                  # needs pkcs11 or file custody; bitcoind-wallet cannot make adaptor signatures
params_file = ""                 # the chain's GET /babylon/btcstaking/v1/params_versions response; SIGHUP reloads it (append-only)

[phase2.hmac]                    # X-Covenant-HMAC on the phase-2 routes, in addition to mutual TLS
key_file = ""                    # a 0600 file with the shared key; "" = off
allow_body_only_hmac = false     # true also accepts the reference's replayable body-only MAC (logged as weaker)
window_seconds = 300             # X-Covenant-Timestamp may differ this much from the signer's clock
max_nonces = 1000000
`;

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const standard = answerStandardCommand(command, HELP, SAMPLE);
  if (standard !== undefined) return standard;
  if (command === 'verify-audit') return verifyAudit(rest);
  if (command === 'accept-audit-log') return acceptAuditLog(rest);
  if (command === 'start') {
    const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
    if (!values.config) {
      console.error('start needs --config <signer.toml> (see: sample-config)');
      return 2;
    }
    const sighup = takeSighup();
    const signer = await startSigner(loadSignerConfig(values.config), {
      baseDir: dirname(resolve(values.config)),
    });
    sighup.reloadWith(() => {
      void signer.reloadParams();
      void signer.reloadPhase2Params?.();
    });
    await untilStopSignal(() => signer.stop());
    return 0;
  }
  console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

/** Opens the config's custody for a CLI command; its warnings (the file backend's) go to stderr. */
async function custodyOf(config: SignerConfig, configFile: string): Promise<CustodyBackend> {
  const logger = pino({ level: 'warn' }, pino.destination(2));
  return openCustody(parseCustodyConfig(config.custody, { baseDir: dirname(resolve(configFile)) }), {
    logger,
  });
}

async function verifyAudit(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { file: { type: 'string' }, config: { type: 'string', short: 'c' } },
  });
  const config = values.config ? loadSignerConfig(values.config) : undefined;
  const file = values.file ?? positionals[0] ?? config?.audit.file;
  if (!file) {
    console.error('verify-audit needs --config <signer.toml> or the audit log file');
    return 2;
  }
  let text: string;
  try {
    text = readAuditFile(file);
  } catch (e) {
    console.error(`audit log NOT VERIFIED: ${isCodedError(e) ? e.message : String(e)}`);
    return 4;
  }
  if (!config) {
    const v = verifyAuditText(text);
    if (!v.ok) {
      console.error(
        `audit log BROKEN at line ${v.line}: ${v.reason} (${v.records} records before it are intact)`,
      );
      return 1;
    }
    console.log(
      `audit log structure intact: ${v.records} records (each parses, seq 1..${v.records} in order, prev links and sha256 chain hold; ${v.unkeyed} unkeyed). NOT verified without custody: the MACs of ${v.records - v.unkeyed} keyed records and the anchor sealed in custody, so a log rewritten or truncated by someone without the key would also pass this; run with --config <signer.toml> to verify them`,
    );
    return 3;
  }
  let custody: CustodyBackend;
  try {
    custody = await custodyOf(config, values.config!);
  } catch (e) {
    console.error(
      `audit log NOT VERIFIED: custody could not be opened: ${isCodedError(e) ? `${e.code}: ${e.message}` : String(e)}`,
    );
    return 5;
  }
  try {
    const read = await readAnchor(custody.audit);
    // Start-up would complete it (a crash between the anchor write and the log's write), not refuse it.
    const repair = await repairFromAnchor(file, text, read, custody.audit);
    if (repair) {
      console.log(
        `audit log intact once completed from custody's anchor: it lacks records ${repair.from}..${repair.to}${repair.torn > 0 ? ` (and ends in ${repair.torn} bytes of a torn line)` : ''}, the last batch, which the anchor carries and start-up appends; ${repair.verification.records} records, last hash ${repair.verification.lastHash}, every MAC verified; ${custody.audit.description}`,
      );
      return 0;
    }
    const v = await verifyKeyedAudit(text, custody.audit);
    if (!v.ok) {
      console.error(
        `audit log BROKEN at line ${v.line}: ${v.reason} (${v.records} records before it verify)`,
      );
      return 1;
    }
    try {
      checkAnchor(file, v.recordsList, read);
    } catch (e) {
      if (!isCodedError(e)) throw e;
      console.error(`audit log REFUSED: ${e.code}: ${e.message}`);
      return 1;
    }
    const anchored =
      read.state === 'valid'
        ? `anchored at seq ${read.anchor.seq} (counter ${read.anchor.counter})`
        : 'no anchor yet (a new log)';
    console.log(
      `audit log intact: ${v.records} records, last hash ${v.lastHash}; every keyed record's MAC verified, ${anchored}; ${custody.audit.description}`,
    );
    return 0;
  } finally {
    await custody.close();
  }
}

async function acceptAuditLog(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, reason: { type: 'string' } },
  });
  if (!values.config || !values.reason?.trim()) {
    console.error('accept-audit-log needs --config <signer.toml> and --reason "<why the log is accepted>"');
    return 2;
  }
  const config = loadSignerConfig(values.config);
  const custody = await custodyOf(config, values.config);
  try {
    const { record, previousAnchor } = await AuditLog.accept(
      config.audit.file,
      custody.audit,
      values.reason.trim(),
    );
    console.log(
      JSON.stringify({
        accepted: config.audit.file,
        record_seq: record.seq,
        previous_anchor: record.previous_anchor,
        previous_anchor_state: previousAnchor,
        accepted_head: record.accepted_head,
        unkeyed_records: record.unkeyed_records,
      }),
    );
    return 0;
  } finally {
    await custody.close();
  }
}

runMain('covenant-signer', main);
