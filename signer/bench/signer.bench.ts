/**
 * `npm run bench:signer`: unbonding signatures per second and p50/p99 latency over mutual TLS with
 * keep-alive and 100 requests in flight, the signer running as its own process with the pkcs11
 * backend on SoftHSM; beside it, in the same run, the raw bound (tiny-secp256k1 BIP340 sign plus
 * verify per second on one core) and the ratio. Every request is a distinct, valid stake. Beside
 * them, the phase-2 bound: Schnorr adaptor pre-signatures (EncSign plus EncVerify) per second on one
 * core, the work the signer adds per finality provider and slashing tx.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import * as ecc from 'tiny-secp256k1';
import { fundedWallet, startRegtestNode } from '../../bitcoind/index.ts';
import { parseXOnlyKey } from '../../common/index.ts';
import { generateKey, initToken, parseCustodyConfig } from '../../hsm/index.ts';
import { parseGlobalParams } from '../../params/index.ts';
import { adaptorEncSign, babylonEncryptionKey, verifyAdaptorSignature } from '../../staking/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { bulkStakes } from '../../test/infra/bulkStakes.ts';
import { cpuSecondsOf } from '../../test/infra/cpu.ts';
import { MtlsClient } from '../../test/infra/mtlsClient.ts';
import { makeTestPki } from '../../test/infra/pki.ts';
import { writeSignerToml } from '../../test/infra/signerToml.ts';
import { createSoftHsmDir } from '../../test/infra/softhsm.ts';
import { testKey, testParamsDoc } from '../../test/keys.ts';

const N = Number(process.env.BENCH_SIGNER_REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_SIGNER_CONCURRENCY ?? 100);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function rawBound(ms = 3000): number {
  const priv = testKey('raw-bound').privateKey;
  const pub = ecc.xOnlyPointFromScalar(priv);
  const msg = new Uint8Array(32);
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    msg[0] = n & 0xff;
    msg[1] = (n >> 8) & 0xff;
    const sig = ecc.signSchnorr(msg, priv, crypto.getRandomValues(new Uint8Array(32)));
    if (!ecc.verifySchnorr(msg, pub, sig)) throw new Error('raw bound: bad signature');
    n++;
  }
  return n / (ms / 1000);
}

/** Adaptor pre-signatures (EncSign, then EncVerify as the signer does before anything leaves) per second. */
function rawAdaptorBound(ms = 3000): number {
  const priv = testKey('raw-bound').privateKey;
  const pub = ecc.xOnlyPointFromScalar(priv);
  const enc = babylonEncryptionKey(testKey('raw-bound-fp').xOnly);
  const msg = new Uint8Array(32);
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    msg[0] = n & 0xff;
    msg[1] = (n >> 8) & 0xff;
    const presig = adaptorEncSign(priv, msg, enc, crypto.getRandomValues(new Uint8Array(32)));
    if (!verifyAdaptorSignature(pub, msg, enc, presig)) throw new Error('raw bound: bad adaptor signature');
    n++;
  }
  return n / (ms / 1000);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-signer-'));
  const hsm = await createSoftHsmDir();
  const node = await startRegtestNode();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    console.log(`setting up: SoftHSM token, regtest node, ${N} confirmed stakes…`);
    const pinFile = await hsm.secretFile('pin', '123456-bench');
    const soPinFile = await hsm.secretFile('so-pin', '987654-bench');
    const custodyTable = {
      backend: 'pkcs11',
      pkcs11: { token_label: 'bench', pin_file: pinFile, sessions: 4 },
    };
    const custodyConfig = parseCustodyConfig(custodyTable);
    await initToken(custodyConfig, { soPin: { file: soPinFile } });
    const key = await generateKey(custodyConfig, { logger: pino({ level: 'warn' }) });
    const signerKey = parseXOnlyKey(key.xOnly, 'key', 'BENCH');

    const { rpc: wallet, address: minerAddress } = await fundedWallet(node, 'bench');
    await node.rpc.generatetoaddress(Math.ceil(N / 40), minerAddress); // enough mature coinbases
    const others = [testKey('bench-cov-1'), testKey('bench-cov-2')];
    const paramsDoc = testParamsDoc([{ compressedHex: `02${key.xOnly}` }, ...others], {
      activation_height: 1,
      staking_cap: 100_000_000_000_000,
      max_staking_amount: 10_000_000_000,
    });
    const paramsFile = join(dir, 'global-params.json');
    writeFileSync(paramsFile, JSON.stringify(paramsDoc));
    const v0 = parseGlobalParams(paramsDoc).versions[0]!;
    const stakes = await bulkStakes(node, wallet, v0, N, { minerAddress });

    const pki = makeTestPki(join(dir, 'pki'), ['bench']);
    const configFile = join(dir, 'signer.toml');
    const { port, metricsPort } = await writeSignerToml({
      file: configFile,
      pki,
      client: 'bench',
      node,
      paramsFile,
      audit: join(dir, 'audit.jsonl'),
      server: ['rate_limit_per_minute = 10000000', 'max_concurrent_requests = 1000'],
      custody: [
        'backend = "pkcs11"',
        '[custody.pkcs11]',
        'token_label = "bench"',
        `pin_file = "${pinFile}"`,
        'sessions = 4',
      ],
    });
    const prof = process.env.BENCH_CPU_PROF
      ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
      : [];
    child = spawn(
      process.execPath,
      [...prof, '--import', 'tsx', 'signer/main.ts', 'start', '--config', configFile],
      {
        env: { ...process.env, ...hsm.env },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 300 || child.exitCode !== null) throw new Error('the signer did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }

    const client = new MtlsClient(`https://127.0.0.1:${port}`, {
      caFile: pki.ca.cert,
      identity: pki.clients.bench!,
      maxSockets: CONCURRENCY,
    });
    // Warm-up on a few stakes (TLS sessions, JIT); they are not counted.
    const warm = stakes.splice(0, Math.min(100, Math.floor(N / 10)));
    await Promise.all(warm.map((s) => client.call('POST', '/v1/sign-unbonding-tx', s.body(signerKey))));

    const latencies: number[] = [];
    let next = 0;
    let failures = 0;
    const failureKinds = new Map<string, number>();
    const signerPid = child.pid!;
    const cpu0 = {
      signer: cpuSecondsOf(signerPid),
      node: cpuSecondsOf(node.pid),
      client: process.cpuUsage(),
    };
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < stakes.length) {
          const s = stakes[next++]!;
          const t = performance.now();
          const r = await client.call('POST', '/v1/sign-unbonding-tx', s.body(signerKey));
          latencies.push(performance.now() - t);
          if (r.status !== 200) {
            failures++;
            const k = `${r.status} ${(r.json as { code?: string }).code}`;
            failureKinds.set(k, (failureKinds.get(k) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const clientCpu = process.cpuUsage(cpu0.client);
    const cpu = {
      signer: cpuSecondsOf(signerPid) - cpu0.signer,
      node: cpuSecondsOf(node.pid) - cpu0.node,
      client: (clientCpu.user + clientCpu.system) / 1e6,
    };
    client.close();
    if (failures > 0)
      throw new Error(`${failures} requests were not signed: ${JSON.stringify([...failureKinds])}`);
    latencies.sort((a, b) => a - b);
    const rate = latencies.length / seconds;
    const raw = rawBound();
    console.log(
      `\ncovenant signer, pkcs11 backend (SoftHSM), mTLS keep-alive, ${CONCURRENCY} in flight, ${latencies.length} distinct valid requests`,
    );
    console.log(`  signatures per second            ${rate.toFixed(0).padStart(8)}   (target ≥ 1000)`);
    console.log(`  latency p50                      ${percentile(latencies, 50).toFixed(2).padStart(8)} ms`);
    console.log(
      `  latency p99                      ${percentile(latencies, 99).toFixed(2).padStart(8)} ms   (target < 10 ms)`,
    );
    console.log(`  raw bound: tiny-secp256k1 BIP340 sign+verify, one core  ${raw.toFixed(0).padStart(8)} /s`);
    console.log(
      `  ratio signer / raw bound         ${(rate / raw).toFixed(3).padStart(8)}   (target ≥ 0.40)`,
    );
    const rawAdaptor = rawAdaptorBound();
    console.log(
      `  adaptor pre-signatures per second, one core (EncSign + EncVerify)  ${rawAdaptor.toFixed(0).padStart(8)} /s   (${(rawAdaptor / raw).toFixed(2)} × the plain BIP340 bound; a phase-2 request with one FP makes 2 and 1 plain)`,
    );
    const perRequest = (s: number) => ((s * 1000) / latencies.length).toFixed(2);
    console.log(
      `  CPU per request                  signer ${perRequest(cpu.signer)} ms, node ${perRequest(cpu.node)} ms, load generator ${perRequest(cpu.client)} ms (2 cores: ${((cpu.signer + cpu.node + cpu.client) / seconds).toFixed(2)} busy on average)`,
    );
    console.log(
      `  (each request: 2 RPCs to the node, staking-tx identification, 1 staker-signature check, unseal + sign + 2 verifications, 1 audit record synced)`,
    );
    printResult({
      sig_per_s: Math.round(rate),
      in_flight: CONCURRENCY,
      p50_ms: percentile(latencies, 50),
      p99_ms: percentile(latencies, 99),
      cpu_ms_per_request: (cpu.signer * 1000) / latencies.length,
      raw_ratio: rate / raw,
      adaptor_presig_per_s: Math.round(rawAdaptor),
    });
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await node.stop();
    await hsm.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
