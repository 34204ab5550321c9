/**
 * `npm run bench:pipeline`: a mainnet-sized committee (9 signers with SoftHSM keys, quorum 6,
 * bbn-1-like parameters), one signer slowed to its timeout. Prints the time from request to
 * broadcast (p50/p99) and requests per second, beside the same run's single signer round trip.
 */

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { toHex } from '../../common/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { bulkStakes } from '../../test/infra/bulkStakes.ts';
import { startSoftHsmCommittee } from '../../test/infra/softhsmCommittee.ts';
import { processRequest } from '../process.ts';
import { endpointOf, SignerClient } from '../signerClient.ts';

const N = Number(process.env.BENCH_PIPELINE_REQUESTS ?? 200);
// Every signer runs in this one process here (on mainnet each is its own host), so keep the load modest.
const CONCURRENCY = Number(process.env.BENCH_PIPELINE_CONCURRENCY ?? 4);
const SLOW_TIMEOUT_MS = 5_000;
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  console.log(`setting up: 9 SoftHSM tokens and signers, quorum 6, ${N} confirmed stakes…`);
  const sc = await startSoftHsmCommittee(9, 6, {
    unbonding_time: 1008,
    unbonding_fee: 32_000,
    min_staking_amount: 500_000,
    max_staking_amount: 50_000_000_000,
    min_staking_time: 64_000,
    max_staking_time: 64_000,
    confirmation_depth: 10,
  });
  // The slowed signer: a TLS endpoint that accepts connections and never answers.
  const c = sc.committee;
  const blackHole = createServer(
    { key: readFileSync(c.pki.server.key), cert: readFileSync(c.pki.server.cert) },
    (socket) => {
      socket.on('data', () => undefined);
    },
  );
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()));
  try {
    const v0 = c.params.versions[0]!;
    const stakes = await bulkStakes(c.node, c.wallet, v0, N + 20, {
      valueSat: 1_000_000n,
      stakingTime: 64_000,
      minerAddress: c.minerAddress,
    });
    const clients = c.members.map(
      (m, i) =>
        new SignerClient(
          endpointOf({
            name: `signer-${i}`,
            url: i === 8 ? `https://127.0.0.1:${(blackHole.address() as AddressInfo).port}` : m.signer!.url,
            public_key: m.compressedHex,
            timeout_ms: SLOW_TIMEOUT_MS,
          }),
          {
            certFile: c.pki.clients.pipeline!.cert,
            keyFile: c.pki.clients.pipeline!.key,
            caFile: c.pki.ca.cert,
          },
        ),
    );
    const stored = (s: (typeof stakes)[number]) => ({
      stakingTxid: s.txid,
      unbondingTxHex: s.unbondingTx.toHex(),
      stakerSignatureHex: toHex(s.stakerSig),
    });

    // One signer round trip, alone, on fresh stakes (the signer signs each once).
    const single: number[] = [];
    for (const s of stakes.splice(0, 20)) {
      const t = performance.now();
      await clients[0]!.sign({
        ...s.body(c.members[0]!.key),
        staking_tx_hex: s.hex,
      });
      single.push(performance.now() - t);
    }
    single.sort((a, b) => a - b);

    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < stakes.length) {
          const s = stakes[next++]!;
          const t = performance.now();
          const out = await processRequest(stored(s), {
            params: c.params,
            rpc: c.node.rpc,
            signers: clients,
          });
          if (out.state !== 'sent') throw new Error(`request not sent: ${JSON.stringify(out)}`);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      `\nunbonding pipeline: 9 signers (SoftHSM keys), quorum 6, signer 9 never answers (timeout ${SLOW_TIMEOUT_MS} ms), ${CONCURRENCY} requests in flight`,
    );
    console.log(`  requests sent                          ${latencies.length}`);
    console.log(
      `  requests per second                    ${(latencies.length / seconds).toFixed(1).padStart(8)}`,
    );
    console.log(`  request → broadcast p50                ${pct(latencies, 50).toFixed(1).padStart(8)} ms`);
    console.log(`  request → broadcast p99                ${pct(latencies, 99).toFixed(1).padStart(8)} ms`);
    console.log(`  single signer round trip p50 (alone)   ${pct(single, 50).toFixed(1).padStart(8)} ms`);
    console.log(
      `  ratio p50 broadcast / single round trip ${(pct(latencies, 50) / pct(single, 50)).toFixed(2).padStart(7)}`,
    );
    console.log('  (the slowed signer never delays a request: the quorum of 6 comes from the other 8)');
    printResult({
      requests_per_s: latencies.length / seconds,
      p50_ms: pct(latencies, 50),
      p99_ms: pct(latencies, 99),
      p50_over_single_round_trip: pct(latencies, 50) / pct(single, 50),
    });
    for (const k of clients) k.close();
  } finally {
    blackHole.close();
    await sc.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
