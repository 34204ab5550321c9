import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'smol-toml';
import { freePort, type RegtestNode, type RpcClient, startRegtestNode } from '../bitcoind/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../db/index.ts';
import { connectBroker, deleteTopology, topologyNames } from '../events/index.ts';
import { type GlobalParams, parseFinalityProviders, parseGlobalParams } from '../params/index.ts';
import { makeTestPki } from '../test/infra/pki.ts';
import { writeSignerToml } from '../test/infra/signerToml.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import { readMetrics, sumOf } from './observe.ts';
import { REPO, type ServiceProcess, startService } from './processes.ts';

/**
 * The reference demo's global parameters (backend-services.md §6.1) without the covenant committee,
 * which the key ceremony creates, and its finality providers: the files the compose deployment
 * uses too (deploy/config/), so the demo and a deployment start from the same documents.
 */
const DEPLOY_CONFIG = join(REPO, 'deploy', 'config');
export const DEMO_PARAMS_VERSIONS: readonly Record<string, unknown>[] = (
  JSON.parse(readFileSync(join(DEPLOY_CONFIG, 'global-params.template.json'), 'utf8')) as {
    versions: Record<string, unknown>[];
  }
).versions;
const FINALITY_PROVIDERS_FILE = join(DEPLOY_CONFIG, 'finality-providers.json');

export interface DemoSystemOptions {
  /** Global-params versions; `covenant_pks` and `covenant_quorum` are filled in unless given. */
  readonly params?: { readonly versions: readonly Record<string, unknown>[] };
  /** Height the chain is mined to before the services start (default 110, below activation 115). */
  readonly startHeight?: number;
  /** Maintenance connection to PostgreSQL; the demo creates and drops its own database there. */
  readonly postgresAdminUrl?: string;
  /** The RabbitMQ broker; the demo uses its own exchange and queue names there and deletes them. */
  readonly rabbitmqUrl?: string;
  /** Where each step of the start-up is told. */
  readonly log?: (line: string) => void;
}

export interface FinalityProviderEntry {
  readonly btcPkHex: string;
  readonly moniker: string;
}

export interface DemoSystem {
  /** The API service, which also serves the dashboard. */
  readonly apiUrl: string;
  readonly urls: {
    readonly apiOps: string;
    readonly indexerOps: string;
    readonly pipelineOps: string;
    readonly signers: readonly string[];
    readonly signerOps: readonly string[];
  };
  readonly node: RegtestNode;
  /** The funded wallet `btcstaker` on the node; blocks are mined to it. */
  readonly wallet: RpcClient;
  readonly params: GlobalParams;
  readonly paramsFile: string;
  readonly finalityProviders: readonly FinalityProviderEntry[];
  /** The covenant keys the ceremony generated in the SoftHSM tokens (compressed hex). */
  readonly covenantKeys: readonly string[];
  readonly services: readonly ServiceProcess[];
  /** The demo's working directory: configs, PKI, tokens, logs. */
  readonly dir: string;
  readonly database: string;
  readonly queuePrefix: string;
  mine(n?: number): Promise<number>;
  mineTo(height: number): Promise<number>;
  /** Until the indexer has processed the node's tip and published every event, and the API has consumed them. */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** Stops every service by pid, drops the database and the queues, stops the node, removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

const run = promisify(execFile);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CEREMONY = 'hsm/ceremonyCli.ts';

/** Runs the key-ceremony CLI as an operator does; returns its JSON answer. */
async function ceremony(args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', CEREMONY, ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`key ceremony \`${args[0]}\` failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

/**
 * Starts the whole system on loopback, as its operators would: a regtest node with a funded wallet,
 * three covenant signers whose keys the key-ceremony CLI generates in SoftHSM tokens (mutual TLS
 * with certificates made here), the indexer, the API and the pipeline, each a child process started
 * from its own `main.ts` with a TOML file, against the machine's PostgreSQL (a database of its own)
 * and RabbitMQ (names of its own).
 */
export async function startDemoSystem(opts: DemoSystemOptions = {}): Promise<DemoSystem> {
  const log = opts.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'staking-demo-'));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const services: ServiceProcess[] = [];
  let node: RegtestNode | undefined;
  let hsm: SoftHsmDir | undefined;
  let db: ScratchDatabase | undefined;
  const rabbitmqUrl = opts.rabbitmqUrl ?? process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const queuePrefix = `demo${randomBytes(4).toString('hex')}.`;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Reverse order of start: nothing talks to a service that is already gone.
    for (const s of [...services].reverse()) await s.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    await removeQueues(rabbitmqUrl, queuePrefix).catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await hsm?.cleanup().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    log(`working directory ${dir}`);
    log('starting a regtest node (Bitcoin Knots, REST on for the indexer) with wallet "btcstaker"');
    node = await startRegtestNode({ extraArgs: ['-rest=1'] });
    await node.rpc.createwallet('btcstaker');
    const wallet = node.rpc.withWallet('btcstaker');
    const minerAddress = await wallet.getnewaddress('miner', 'bech32m');
    const n = node;
    const mine = async (count = 1) => {
      await n.rpc.generatetoaddress(count, minerAddress);
      return n.rpc.getblockcount();
    };
    await mine(opts.startHeight ?? 110);

    log(
      'making the TLS certificates (a CA, the signers’ server certificate, the pipeline’s client certificate)',
    );
    const pki = makeTestPki(join(dir, 'pki'), ['pipeline']);

    hsm = await createSoftHsmDir();
    const paramsFile = join(dir, 'global-params.json');
    const signerConfigs: { file: string; port: number; metricsPort: number }[] = [];
    const covenantKeys: string[] = [];
    for (let i = 0; i < 3; i++) {
      const token = `covenant-${i}`;
      const file = join(dir, `signer-${i}.toml`);
      const pin = await hsm.secretFile(`${token}.pin`, randomBytes(12).toString('hex'));
      const soPin = await hsm.secretFile(`${token}.so-pin`, randomBytes(12).toString('hex'));
      const ports = await writeSignerToml({
        file,
        pki,
        client: 'pipeline',
        node,
        paramsFile,
        audit: join(dir, `signer-${i}.audit.jsonl`),
        custody: [
          'backend = "pkcs11"',
          '[custody.pkcs11]',
          `token_label = "${token}"`,
          `pin_file = "${pin}"`,
        ],
      });
      log(`key ceremony for signer ${i}: init-token "${token}", generate-key (sealed in the token)`);
      await ceremony(['init-token', '--config', file, '--so-pin-file', soPin], hsm.env);
      const key = await ceremony(['generate-key', '--config', file], hsm.env);
      covenantKeys.push(String(key.compressed));
      signerConfigs.push({ file, ...ports });
    }

    const versions = (opts.params?.versions ?? DEMO_PARAMS_VERSIONS).map((v) => ({
      covenant_pks: covenantKeys,
      covenant_quorum: 2,
      ...v,
    }));
    writeFileSync(paramsFile, JSON.stringify({ versions }, null, 2));
    const params = parseGlobalParams({ versions });

    const fpFile = FINALITY_PROVIDERS_FILE;
    const finalityProviders = parseFinalityProviders(readFileSync(fpFile)).map((fp) => ({
      moniker: fp.description.moniker,
      btcPkHex: fp.btcPkHex,
    }));

    for (const [i, c] of signerConfigs.entries()) {
      log(`starting covenant signer ${i} (mutual TLS on 127.0.0.1:${c.port}, metrics ${c.metricsPort})`);
      services.push(
        await startService({
          name: `signer-${i}`,
          script: 'signer/main.ts',
          args: ['start', '--config', c.file],
          logFile: join(logs, `signer-${i}.log`),
          opsUrl: `http://127.0.0.1:${c.metricsPort}`,
          env: hsm.env,
        }),
      );
    }

    db = await createScratchDatabase('staking_demo', opts.postgresAdminUrl);
    log(`PostgreSQL database ${db.name}; RabbitMQ names prefixed "${queuePrefix}"`);

    const toml = (name: string, doc: Record<string, unknown>) => {
      const file = join(dir, `${name}.toml`);
      writeFileSync(file, stringify(doc));
      return file;
    };
    const logLevel = { level: process.env.DEMO_LOG_LEVEL ?? 'info' };
    /** Starts `<name>/main.ts start --config <name>.toml` with `doc` as its config, the ops listener on `opsPort`. */
    const startFromToml = async (name: string, doc: Record<string, unknown>, opsPort: number) => {
      services.push(
        await startService({
          name,
          script: `${name}/main.ts`,
          args: [
            'start',
            '--config',
            toml(name, { ...doc, ops: { host: '127.0.0.1', port: opsPort }, log: logLevel }),
          ],
          logFile: join(logs, `${name}.log`),
          opsUrl: `http://127.0.0.1:${opsPort}`,
        }),
      );
    };
    const [apiPort, apiOps, indexerOps, pipelineOps] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const bitcoind = { url: node.rpcUrl, cookie_file: node.cookieFile };

    log(`starting the API on 127.0.0.1:${apiPort}`);
    await startFromToml(
      'api',
      {
        server: { host: '127.0.0.1', port: apiPort },
        database: { url: db.url },
        rabbitmq: { url: rabbitmqUrl, prefix: queuePrefix, retry_delay_ms: 200 },
        params: { file: paramsFile, finality_providers_file: fpFile },
        bitcoind: { network: 'regtest' },
        api: { stats_cache_ms: 0 },
      },
      apiOps,
    );

    log('starting the indexer');
    await startFromToml(
      'indexer',
      {
        bitcoind: { ...bitcoind, poll_interval_ms: 100 },
        params: { file: paramsFile },
        store: { path: join(dir, 'indexer-store') },
        rabbitmq: { url: rabbitmqUrl, prefix: queuePrefix },
      },
      indexerOps,
    );

    log('starting the unbonding pipeline (quorum 2 of the 3 signers)');
    await startFromToml(
      'pipeline',
      {
        pipeline: { interval_ms: 200, backoff_base_ms: 500, backoff_max_ms: 2_000, lease_ms: 10_000 },
        database: { url: db.url },
        bitcoind,
        params: { file: paramsFile },
        tls: { client_cert_file: pki.clients.pipeline!.cert, client_key_file: pki.clients.pipeline!.key },
        signers: signerConfigs.map((c, i) => ({
          name: `signer-${i}`,
          url: `https://127.0.0.1:${c.port}`,
          public_key: covenantKeys[i]!,
          ca_file: pki.ca.cert,
        })),
      },
      pipelineOps,
    );

    const indexerOpsUrl = `http://127.0.0.1:${indexerOps}`;
    const apiOpsUrl = `http://127.0.0.1:${apiOps}`;
    const depth = params.versions[0]!.confirmationDepth;
    const system: DemoSystem = {
      apiUrl: `http://127.0.0.1:${apiPort}`,
      urls: {
        apiOps: apiOpsUrl,
        indexerOps: indexerOpsUrl,
        pipelineOps: `http://127.0.0.1:${pipelineOps}`,
        signers: signerConfigs.map((c) => `https://127.0.0.1:${c.port}`),
        signerOps: signerConfigs.map((c) => `http://127.0.0.1:${c.metricsPort}`),
      },
      node,
      wallet,
      params,
      paramsFile,
      finalityProviders,
      covenantKeys,
      services,
      dir,
      database: db.name,
      queuePrefix,
      mine,
      async mineTo(height) {
        const tip = await n.rpc.getblockcount();
        return height > tip ? mine(height - tip) : tip;
      },
      async waitForSync(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        let last = '';
        for (;;) {
          const tip = await n.rpc.getblockcount();
          const [ix, api] = await Promise.all([readMetrics(indexerOpsUrl), readMetrics(apiOpsUrl)]);
          const nodeTip = sumOf(ix, 'indexer_node_tip_height');
          // Below the first activation height there is nothing to process (si_start_btc_height).
          const start = sumOf(ix, 'si_start_btc_height');
          const processed = Math.max(sumOf(ix, 'si_last_processed_btc_height'), start - 1);
          const outbox = sumOf(ix, 'indexer_outbox_depth');
          const published = sumOf(ix, 'indexer_events_published_total');
          const consumed = sumOf(api, 'api_events_total') + sumOf(api, 'api_dead_letters_total');
          if (nodeTip === tip && processed >= tip - depth + 1 && outbox === 0 && consumed >= published)
            return;
          last = `tip ${tip}, indexer saw ${nodeTip} and processed ${processed}, outbox ${outbox}, events published ${published}, consumed by the API ${consumed}`;
          if (Date.now() > deadline)
            throw new Error(`the system did not catch up in ${timeoutMs} ms: ${last}`);
          await delay(100);
        }
      },
      stop,
    };
    return system;
  } catch (e) {
    await stop();
    throw e;
  }
}

async function removeQueues(url: string, prefix: string): Promise<void> {
  const conn = await connectBroker({ url });
  try {
    const ch = await conn.createChannel();
    await deleteTopology(ch, topologyNames(prefix));
    await ch.close();
  } finally {
    await conn.close();
  }
}
