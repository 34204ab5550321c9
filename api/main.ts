#!/usr/bin/env -S npx tsx
import { parseArgs } from 'node:util';
import { isCodedError } from '../common/index.ts';
import { Database, migrate } from '../db/index.ts';
import { referenceNames, topologyNames } from '../events/index.ts';
import {
  answerStandardCommand,
  readOptionalSecretText,
  takeSighup,
  urlWithPasswordFile,
} from '../runtime/index.ts';
import { startApi } from './app.ts';
import { type ApiConfig, loadApiConfig } from './config.ts';
import { replayDeadLetters, replayReferenceDeadLetters } from './replay.ts';

const HELP = `staking-api: Babylon phase-1 staking API (reference-compatible REST) and event consumer

Usage:
  npx tsx api/main.ts start --config <api.toml>
      Connects to PostgreSQL (applies migrations under an advisory lock: several instances may
      start at once), consumes the indexer's events, serves the REST API and /metrics.
      SIGTERM or SIGINT: finish the event in hand and the requests in flight, then exit.
      SIGHUP: reload the params file (versions may only be appended, above the tip the indexer
      last reported plus the depth; otherwise refused, logged, and the old params stay).

  npx tsx api/main.ts replay-dead-letters --config <api.toml> [--dry-run] [--limit N]
      Moves the valid events of the dead-letter queue back to the queue they failed in, oldest
      first (after the cause was fixed). Messages that are not valid events stay. --dry-run lists.

  npx tsx api/main.ts migrate --config <api.toml>
      Applies the database migrations and exits (start does this too).

  npx tsx api/main.ts sample-config
      Prints a commented sample configuration.

Every option can be overridden from the environment: API__<SECTION>__<KEY>, e.g.
API__SERVER__PORT=8092, API__DATABASE__URL=postgres://…, API__LOG__LEVEL=debug.
Docs: api/README.md`;

const SAMPLE = `# staking API configuration (TOML). Every key can be overridden: API__<SECTION>__<KEY>.
[server]
host = "0.0.0.0"
port = 8092
body_limit_bytes = 4096          # larger POST bodies get 413 (the reference's max-content-length)
headers_timeout_ms = 5000        # headers must arrive within this, else 408 and close
request_timeout_ms = 10000       # the whole request (headers and body), else 408 and close
keep_alive_timeout_ms = 5000     # idle kept-alive connections close after this
max_connections = 1000           # more are closed as they arrive
handler_timeout_ms = 15000       # a request not answered by then gets 503 API_TIMEOUT
cors_allowed_origins = ["*"]     # or ["https://dashboard.example"]; [] sends no CORS headers
log_requests = false
shutdown_grace_ms = 10000

[rate_limit]                     # per client address (the socket's; no forwarding header is trusted)
enabled = true
max = 600                        # requests per window; more get 429 API_RATE_LIMITED
window_ms = 60000
exempt_loopback = true           # a proxy on this host and local tools are not limited

[ops]                            # plain HTTP: /metrics, /healthz, /readyz
enabled = true
host = "127.0.0.1"
port = 2113

[database]
url = "postgres://staking_api@127.0.0.1:5432/staking_api"
# password_file = "/etc/staking-api/db-password"   # mode 0600
pool_size = 10
connect_timeout_ms = 5000
statement_timeout_ms = 10000
lock_timeout_ms = 5000
query_timeout_ms = 11000         # client-side: the path to PostgreSQL may go silent

[rabbitmq]
enabled = true
url = "amqp://staking_api@127.0.0.1:5672/staking"
# password_file = "/etc/staking-api/amqp-password"
prefix = ""                      # topology name prefix (events/topologyNames)
queue_type = "quorum"
prefetch = 1                     # keep 1 when several instances consume
max_attempts = 5
retry_delay_ms = 1000
topology = "ordered"             # ordered | reference (staking-queue-client's queues, events/README.md)
requeue_delay_ms = 5000          # reference topology: wait in <queue>_delay before a retry

[params]
file = "/etc/staking-api/global-params.json"
finality_providers_file = "/etc/staking-api/finality-providers.json"

[bitcoind]
network = "mainnet"              # mainnet | testnet | signet | regtest (addresses of /v1/staker/delegation/check)

[api]
pagination_limit = 10
stats_cache_ms = 1000            # /v1/stats figures are at most this old
log_terms_acceptance = true      # POST /log-terms-acceptance stores {address, public_key}; false: 404
max_staking_transaction_height = 0   # refuse unbonding of stakes included above this height (labs cutoff); 0 = off

[dashboard]                      # the staking dashboard (web/README.md) at / and /assets/…
enabled = true
dir = ""                         # the built page (npm run build:web); "" = the repository's web/dist
explorer_url = ""                # e.g. "http://127.0.0.1:8080": links to <url>/tx/<txid> and <url>/address/<a>; "" = none

[log]
level = "info"
`;

async function openDb(c: ApiConfig): Promise<Database> {
  return Database.open({
    url: c.database.url,
    password: await readOptionalSecretText(c.database.password_file, 'database password file'),
    poolSize: 2,
    connectTimeoutMs: c.database.connect_timeout_ms,
  });
}

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const standard = answerStandardCommand(command, HELP, SAMPLE);
  if (standard !== undefined) return standard;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      'dry-run': { type: 'boolean', default: false },
      limit: { type: 'string' },
    },
  });
  if (!['start', 'replay-dead-letters', 'migrate'].includes(command)) {
    console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  if (!values.config) {
    console.error(`${command} needs --config <api.toml> (see: sample-config)`);
    return 2;
  }
  const config = loadApiConfig(values.config);
  if (command === 'migrate') {
    const db = await openDb(config);
    try {
      await db.ping();
      const r = await migrate(db);
      console.log(`database at version ${r.version}; applied: ${r.applied.join(', ') || 'none'}`);
    } finally {
      await db.close();
    }
    return 0;
  }
  if (command === 'replay-dead-letters') {
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      console.error('--limit must be a positive integer');
      return 2;
    }
    const db = await openDb(config);
    try {
      const url = await urlWithPasswordFile(
        config.rabbitmq.url,
        config.rabbitmq.password_file,
        'queue password file',
      );
      const common = {
        url,
        queueType: config.rabbitmq.queue_type,
        db,
        dryRun: values['dry-run'],
        ...(limit !== undefined ? { limit } : {}),
        log: (line: string) => console.log(line),
      };
      // The reference topology keeps its dead letters in the database only (events/README.md).
      const r =
        config.rabbitmq.topology === 'reference'
          ? await replayReferenceDeadLetters({ ...common, names: referenceNames(config.rabbitmq.prefix) })
          : await replayDeadLetters({ ...common, names: topologyNames(config.rabbitmq.prefix) });
      console.log(
        values['dry-run']
          ? `dry run: ${r.kept} message(s) left in the dead-letter queue`
          : `replayed ${r.replayed.length} event(s); ${r.kept} message(s) that are not valid events stay in the dead-letter queue`,
      );
    } finally {
      await db.close();
    }
    return 0;
  }
  const sighup = takeSighup();
  const api = await startApi(config);
  sighup.reloadWith(() => {
    void api.reloadParams();
  });
  await new Promise<void>((resolve) => {
    const stop = () => {
      void api.stop().then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (isCodedError(e)) console.error(`staking-api: ${e.code}: ${e.message}`);
    else console.error(e);
    process.exit(1);
  },
);
