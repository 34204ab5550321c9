/**
 * Step 7 of the restore drill: a covenant signer's backup restored into a fresh SoftHSM token and a
 * fresh directory, the honest way (README, "Backups and restore", the signers' row).
 *
 * What a pkcs11 signer's state is, and what of it a backup can carry:
 *   - the covenant key, sealed in the token: `export-backup` carries it (passphrase-sealed);
 *   - the audit MAC key and the anchor, token objects: the audit key is non-extractable, so NO
 *     backup carries it, and the anchor is worthless without it;
 *   - the audit log (the anti-replay memory): a file copy, plus its head (seq, hash) written down
 *     apart from it, since after the restore no key can vouch for the copy's MACs any more.
 * A fresh token therefore has a new audit key, the copy's MACs no longer verify, and both start-up
 * and accept-audit-log refuse it as it is. The restore drops the old MACs (the sha256 chain does not
 * cover them, so it stays intact and checkable by anyone), compares the head with the one written
 * down at backup time, and accepts the log under the new token with a reason: the accept record is
 * the first keyed record, vouching for everything before it, and it is itself audited.
 *
 * The drill proves, with a real signer process on loopback ports that only the drill calls:
 *   - the naive restore (the copy as it is) is refused at start and by accept-audit-log;
 *   - after the honest restore, a request for an output the live signer signed before the backup
 *     gets back the very signature the backup's log recorded, as a repeat, not a fresh signature
 *     (BIP340 signatures here use fresh randomness, so a second signing would differ). A different
 *     unbonding tx for that output cannot be made to pass the checks (the unbonding tx of an output
 *     is fully determined by the params), so SIGNER_ALREADY_SIGNED_OTHER is not reachable from a
 *     real request; the repeat is what shows the memory survived;
 *   - a restored log later truncated, or put back to an older copy, is refused at start
 *     (SIGNER_AUDIT_ROLLBACK) by the new token's anchor.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Transaction } from 'bitcoinjs-lib';
import { parse as parseToml, stringify } from 'smol-toml';
import { rpcClientFromConfig } from '../bitcoind/index.ts';
import { loadSignerConfig } from '../signer/config.ts';
import {
  SIGN_UNBONDING_PATH,
  type SignUnbondingRequestBody,
  type SignUnbondingResponse,
} from '../staking/index.ts';

const runFile = promisify(execFile);

export interface SignerDrillReport {
  ok: boolean;
  custody: string;
  backup: {
    /** The live log's records and `signed` decisions in the copy; its head, to be kept apart. */
    records: number;
    signed: number;
    head: { seq: number; hash: string; records: number };
  };
  /** The copy as it is, in a fresh token: what start-up and accept-audit-log say. */
  naiveRestore: { start: string; accept: string };
  honestRestore: {
    structureOnlyExit: number;
    headMatchesBackup: boolean;
    acceptExit: number;
    verifyExit: number;
    recordsAfterAccept: number;
    signedAfterAccept: number;
    unkeyedRecordsAccepted: number;
  };
  antiReplay: {
    exercised: boolean;
    stakingOutput?: string;
    status?: number;
    sameSignatureAsBeforeBackup?: boolean;
    restoredSignerCounts?: { signed: number; repeated: number; refused: number };
    signedDecisionsAfterRun?: number;
  };
  rollback: { truncatedLog: string; olderCopy: string };
  notes: string[];
}

export interface DrillServices {
  start(name: string, args: string[], env: Record<string, string>, logFile: string): DrillService;
  freePort(): Promise<number>;
  scrape(opsUrl: string): Promise<Array<{ name: string; labels: string; value: number }>>;
}

export interface DrillService {
  readonly exited: boolean;
  stop(): Promise<void>;
}

interface Rec {
  seq: number;
  event: string;
  outcome?: string;
  hash: string;
  staking_txid?: string;
  staking_vout?: number;
  unbonding_txid?: string;
  covenant_key?: string;
  signature?: string;
}

const GENESIS = '0'.repeat(64);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (text: string) => text.split('\n').filter(Boolean);
const records = (text: string) => lines(text).map((l) => JSON.parse(l) as Rec);
const signedOf = (rs: Rec[]) => rs.filter((r) => r.event === 'decision' && r.outcome === 'signed');

/** The documented step that turns the old token's keyed records into an unkeyed prefix. */
export const UNKEY_SED = 's/,"mac":"[0-9a-f]{64}"}$/}/';

async function cli(
  repo: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await runFile(process.execPath, ['--import', 'tsx', ...args], {
      cwd: repo,
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

const codeIn = (text: string) =>
  /\b(SIGNER_AUDIT_[A-Z_]+|SIGNER_[A-Z_]+|HSM_[A-Z_]+)\b/.exec(text)?.[1] ?? 'no code in the output';

function mtlsPost(
  url: string,
  tls: { cert: Buffer; key: Buffer; ca: Buffer },
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        ...tls,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

export async function signerRestoreDrill(o: {
  repo: string;
  signerConfig: string;
  pipelineConfig: string;
  work: string;
  deadline: number;
  services: DrillServices;
  /** Services this step started, for the caller's cleanup. */
  started: DrillService[];
}): Promise<SignerDrillReport> {
  const live = parseToml(readFileSync(o.signerConfig, 'utf8')) as Record<string, Record<string, unknown>>;
  const liveConfig = loadSignerConfig(o.signerConfig);
  const custody = String(live.custody?.backend);
  const notes: string[] = [];
  if (custody !== 'pkcs11') {
    throw new Error(
      `the signer step restores pkcs11 signers; this one's custody is ${custody} (hsm/README.md: back up the key file or the wallet instead)`,
    );
  }
  const dir = join(o.work, 'signer');
  const backupDir = join(dir, 'backup');
  const restoredDir = join(dir, 'restored');
  const tokens = join(restoredDir, 'tokens');
  for (const d of [backupDir, restoredDir, tokens]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const secret = (file: string, value: string) => {
    writeFileSync(file, value, { mode: 0o600 });
    chmodSync(file, 0o600);
    return file;
  };

  const mine: DrillService[] = [];
  const secrets: string[] = [];
  try {
    // --- Backup, from the live signer (which keeps running). ---
    const passFile = secret(join(backupDir, 'passphrase'), randomBytes(16).toString('hex'));
    const keyBackup = join(backupDir, 'covenant-key.backup.json');
    // The key backup beside its passphrase, and the token with its PIN, are the key itself: they
    // never outlive this step, whatever --keep says.
    secrets.push(passFile, keyBackup, tokens, join(restoredDir, 'pin'), join(restoredDir, 'so.pin'));
    const exported = await cli(
      o.repo,
      [
        'hsm/ceremonyCli.ts',
        'export-backup',
        '--config',
        o.signerConfig,
        '--out',
        keyBackup,
        '--passphrase-file',
        passFile,
      ],
      {},
    );
    if (exported.code !== 0) throw new Error(`export-backup failed: ${exported.err.trim()}`);
    // The operator's own command: whole lines only, and the head to keep apart from the copy.
    const copied = await runFile('bash', [
      join(o.repo, 'deploy', 'backup.sh'),
      'signer-log',
      liveConfig.audit.file,
      backupDir,
    ]);
    const head = JSON.parse(copied.stdout) as { seq: number; hash: string; records: number };
    const logCopy = join(backupDir, 'audit.jsonl');
    const full = readFileSync(logCopy, 'utf8');
    const before = records(full);

    // --- A fresh token and directory. ---
    const conf = join(restoredDir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    const env = { SOFTHSM2_CONF: conf };
    const pkcs11 = { ...(live.custody!.pkcs11 as Record<string, unknown>) };
    delete pkcs11.pin_env;
    pkcs11.pin_file = secret(join(restoredDir, 'pin'), randomBytes(12).toString('hex'));
    const soPin = secret(join(restoredDir, 'so.pin'), randomBytes(12).toString('hex'));
    const restoredLog = join(restoredDir, 'audit.jsonl');
    const [port, metricsPort] = [await o.services.freePort(), await o.services.freePort()];
    const restoredConfig = join(restoredDir, 'signer.toml');
    writeFileSync(
      restoredConfig,
      stringify({
        ...live,
        server: { ...live.server, host: '127.0.0.1', port },
        ops: { ...live.ops, host: '127.0.0.1', port: metricsPort },
        audit: { file: restoredLog },
        custody: { ...live.custody, pkcs11 },
      }),
    );
    const ceremony = async (...args: string[]) => {
      const r = await cli(o.repo, ['hsm/ceremonyCli.ts', ...args, '--config', restoredConfig], env);
      if (r.code !== 0) throw new Error(`${args[0]} failed: ${r.err.trim()}`);
    };
    await ceremony('init-token', '--so-pin-file', soPin);
    await ceremony('import-backup', '--in', keyBackup, '--passphrase-file', passFile);

    const signerCli = (...args: string[]) => cli(o.repo, ['signer/main.ts', ...args], env);
    const opsUrl = `http://127.0.0.1:${metricsPort}`;
    let attempt = 0;
    /** Starts the restored signer: its service when ready, or the code it refused to start with. */
    const start = async (): Promise<DrillService | string> => {
      const logFile = join(restoredDir, `signer-${++attempt}.log`);
      const svc = o.services.start(
        'restored signer',
        ['signer/main.ts', 'start', '--config', restoredConfig],
        env,
        logFile,
      );
      o.started.push(svc);
      mine.push(svc);
      for (;;) {
        if (svc.exited) return codeIn(readFileSync(logFile, 'utf8'));
        const r = await fetch(`${opsUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(
          () => undefined,
        );
        if (r?.status === 200) return svc;
        if (Date.now() > o.deadline) {
          await svc.stop();
          throw new Error(`the restored signer was not ready in time; see ${logFile}`);
        }
        await delay(200);
      }
    };
    const mustRefuse = async (what: string): Promise<string> => {
      const r = await start();
      if (typeof r === 'string') return r;
      await r.stop();
      throw new Error(`the restored signer started on ${what}`);
    };

    // --- The naive restore: the copy as it is. ---
    secret(restoredLog, full);
    const naiveStart = await mustRefuse('the old token’s log in a fresh token');
    const naiveAccept = await signerCli(
      'accept-audit-log',
      '--config',
      restoredConfig,
      '--reason',
      'restore drill: the copy as it is',
    );
    if (naiveAccept.code === 0) throw new Error('accept-audit-log accepted MACs of another token');

    // --- The honest restore. ---
    const unkeyed = await runFile('sed', ['-E', UNKEY_SED, logCopy], { maxBuffer: 1 << 30 });
    secret(restoredLog, unkeyed.stdout);
    const structure = await signerCli('verify-audit', restoredLog);
    const restoredHead = records(unkeyed.stdout).at(-1);
    const headMatches =
      (restoredHead?.seq ?? 0) === head.seq && (restoredHead?.hash ?? GENESIS) === head.hash;
    if (!headMatches) throw new Error('the log copy does not end at the head written down at backup time');
    const accepted = await signerCli(
      'accept-audit-log',
      '--config',
      restoredConfig,
      '--reason',
      `restore drill: covenant key from export-backup into a fresh token; log copy to seq ${head.seq} hash ${head.hash}, head checked against the backup's audit-head.json; MACs of the old token dropped`,
    );
    const verified = await signerCli('verify-audit', '--config', restoredConfig);
    const afterAccept = readFileSync(restoredLog, 'utf8');
    const acceptRecord = records(afterAccept).at(-1) as Rec & { unkeyed_records?: number };

    // --- The restored signer remembers what the live one signed before the backup. ---
    const antiReplay: SignerDrillReport['antiReplay'] = { exercised: false };
    const svc = await start();
    if (typeof svc === 'string') throw new Error(`the honestly restored signer refused to start: ${svc}`);
    const rpc = await rpcClientFromConfig(liveConfig.bitcoind);
    const params = JSON.parse(readFileSync(liveConfig.params.file, 'utf8')) as {
      versions: Array<{ covenant_pks: string[] }>;
    };
    const pipeline = parseToml(readFileSync(o.pipelineConfig, 'utf8')) as {
      tls: { client_cert_file: string; client_key_file: string };
      signers: Array<{ ca_file?: string }>;
    };
    const tls = {
      cert: readFileSync(pipeline.tls.client_cert_file),
      key: readFileSync(pipeline.tls.client_key_file),
      ca: readFileSync(pipeline.signers[0]!.ca_file ?? String(live.server!.client_ca_file)),
    };
    for (const r of signedOf(before).reverse()) {
      const unbonding = await rpc.getrawtransaction(r.unbonding_txid!, true).catch(() => undefined);
      if (!unbonding) continue;
      const staking = await rpc.getrawtransaction(r.staking_txid!, true);
      const witness = unbonding.vin[0]!.txinwitness ?? [];
      const tx = Transaction.fromHex(unbonding.hex);
      for (const input of tx.ins) input.witness = [];
      const key = params.versions
        .flatMap((v) => v.covenant_pks)
        .find((k) => k.slice(2).toLowerCase() === r.covenant_key);
      if (!key || witness.length < 3) continue;
      const request: SignUnbondingRequestBody = {
        staking_output_pk_script_hex: staking.vout[r.staking_vout!]!.scriptPubKey.hex,
        unbonding_tx_hex: tx.toHex(),
        // The unbonding witness is [covenant sigs…, staker sig, leaf script, control block].
        staker_unbonding_sig_hex: witness[witness.length - 3]!,
        covenant_public_key: key,
      };
      const answer = await mtlsPost(`https://127.0.0.1:${port}${SIGN_UNBONDING_PATH}`, tls, request);
      const m = await o.services.scrape(opsUrl);
      const count = (outcome: string) =>
        m
          .filter((x) => x.name === 'signer_requests_total' && x.labels.includes(`outcome="${outcome}"`))
          .reduce((a, x) => a + x.value, 0);
      const data = answer.json.data as Partial<SignUnbondingResponse['data']> | undefined;
      antiReplay.exercised = true;
      antiReplay.stakingOutput = `${r.staking_txid}:${r.staking_vout}`;
      antiReplay.status = answer.status;
      antiReplay.sameSignatureAsBeforeBackup = data?.signature_hex === r.signature;
      antiReplay.restoredSignerCounts = {
        signed: count('signed'),
        repeated: count('repeated'),
        refused: count('refused'),
      };
      break;
    }
    if (!antiReplay.exercised) {
      notes.push(
        'anti-replay not exercised: no signed decision in the backup’s log whose unbonding tx the node knows',
      );
    }
    await svc.stop();
    const afterRun = readFileSync(restoredLog, 'utf8');
    antiReplay.signedDecisionsAfterRun = signedOf(records(afterRun)).length;

    // --- Rolled back after the restore: the new token's anchor catches it. Two records (the stop
    // and the one before it, two batches): the last batch alone is what a crash can lose, and the
    // anchor carries it, so start-up completes that (signer/README.md, "The window"). ---
    secret(restoredLog, `${lines(afterRun).slice(0, -2).join('\n')}\n`);
    const truncated = await mustRefuse('a truncated log');
    secret(restoredLog, afterAccept);
    const older = await mustRefuse('an older copy of its log');
    secret(restoredLog, afterRun);

    const report: SignerDrillReport = {
      ok: false,
      custody,
      backup: {
        records: before.length,
        signed: signedOf(before).length,
        head,
      },
      naiveRestore: { start: naiveStart, accept: codeIn(naiveAccept.err + naiveAccept.out) },
      honestRestore: {
        structureOnlyExit: structure.code,
        headMatchesBackup: headMatches,
        acceptExit: accepted.code,
        verifyExit: verified.code,
        recordsAfterAccept: lines(afterAccept).length,
        signedAfterAccept: signedOf(records(afterAccept)).length,
        unkeyedRecordsAccepted: acceptRecord.unkeyed_records ?? 0,
      },
      antiReplay,
      rollback: { truncatedLog: truncated, olderCopy: older },
      notes,
    };
    report.ok =
      report.naiveRestore.start === 'SIGNER_AUDIT_CORRUPT' &&
      report.honestRestore.acceptExit === 0 &&
      report.honestRestore.verifyExit === 0 &&
      report.honestRestore.signedAfterAccept === report.backup.signed &&
      (!antiReplay.exercised ||
        (antiReplay.status === 200 &&
          antiReplay.sameSignatureAsBeforeBackup === true &&
          antiReplay.restoredSignerCounts?.signed === 0 &&
          antiReplay.signedDecisionsAfterRun === report.backup.signed)) &&
      truncated === 'SIGNER_AUDIT_ROLLBACK' &&
      older === 'SIGNER_AUDIT_ROLLBACK';
    return report;
  } finally {
    for (const s of mine) await s.stop().catch(() => undefined);
    for (const f of secrets) rmSync(f, { recursive: true, force: true });
  }
}
