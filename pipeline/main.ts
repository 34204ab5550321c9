#!/usr/bin/env -S npx tsx
import { parseArgs } from 'node:util';
import { answerStandardCommand, runMain, takeSighup, untilStopSignal } from '../runtime/index.ts';
import { startPipeline } from './app.ts';
import { loadPipelineConfig } from './config.ts';

const HELP = `unbonding-pipeline: turns stored unbonding requests into fully signed unbonding transactions

Usage:
  npx tsx pipeline/main.ts start --config <pipeline.toml> [--once]
      Claims due requests (several instances never claim the same one), re-checks each against the
      node and the params, asks every configured covenant signer over mutual TLS, keeps the first
      quorum of signatures that verify, builds the witness and broadcasts. --once: one round, then
      exit (cron-style). SIGTERM/SIGINT: finish the requests in hand, then exit. SIGHUP reloads
      the params file; a file that changes or removes a version, or appends one activating at or
      below the node's tip plus the confirmation depth, is refused (logged with its code) and the
      old params stay.
      Every option can be overridden from the environment: PIPELINE__<SECTION>__<KEY>.
  npx tsx pipeline/main.ts sample-config
      Prints a commented sample configuration.

Docs: pipeline/README.md`;

const SAMPLE = `# unbonding pipeline configuration (TOML). Every key can be overridden: PIPELINE__<SECTION>__<KEY>.
[pipeline]
# worker_id = "pipeline-a"       # name in claims and logs (default: hostname-pid)
interval_ms = 10000              # pause between rounds
batch_size = 50                  # requests claimed at once
concurrency = 8                  # requests processed at once by this instance
lease_ms = 120000                # a crashed instance's claims are due again after this
backoff_base_ms = 30000          # retry backoff: base * 2^(attempts-1), full jitter,
backoff_max_ms = 3600000         # capped here

[database]                       # the API's database; migrations are applied at start
url = "postgres://staking_pipeline@127.0.0.1:5432/staking_api"
# password_file = "/etc/pipeline/db-password"   # mode 0600

[bitcoind]                       # the node that checks requests and takes the broadcast
url = "http://127.0.0.1:8332"
cookie_file = "/var/lib/bitcoind/.cookie"   # or user = "..." with password_file = "..."
timeout_ms = 10000

[params]
file = "/etc/pipeline/global-params.json"

[tls]                            # the pipeline's client certificate, presented to every signer
client_cert_file = "/etc/pipeline/tls/client.crt"
client_key_file = "/etc/pipeline/tls/client.key"

[[signers]]                      # one table per covenant signer
name = "signer-a"
url = "https://signer-a.example:9791"
public_key = "03d45c70d28f169e1f0c7f4a78e2bc73497afe585b70aa897955989068f3350aaa"  # its covenant key, as in the params
ca_file = "/etc/pipeline/tls/signer-a-ca.crt"
timeout_ms = 5000

[ops]                            # /metrics, /healthz, /readyz
host = "127.0.0.1"
port = 2115

[log]
level = "info"
`;

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const standard = answerStandardCommand(command, HELP, SAMPLE);
  if (standard !== undefined) return standard;
  if (command !== 'start') {
    console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, once: { type: 'boolean' } },
  });
  if (!values.config) {
    console.error('start needs --config <pipeline.toml>');
    return 2;
  }
  const sighup = takeSighup();
  const p = await startPipeline(loadPipelineConfig(values.config), { once: values.once ?? false });
  if (values.once) {
    await p.stop();
    return 0;
  }
  sighup.reloadWith(() => {
    void p.reloadParams();
  });
  await untilStopSignal(() => p.stop());
  return 0;
}

runMain('unbonding-pipeline', main);
