// Measures the pkcs11 backend's signing cost against raw libsecp256k1 on one core: the native addon
// the services use (common/ index's ecc) and, beside it, tiny-secp256k1's WASM build it replaced:
//   npx tsx hsm/bench/pkcs11Sign.bench.ts [signatures=3000]
// It makes its own SoftHSM token directory (removed afterwards); nothing touches the system token dir.
import * as tiny from 'tiny-secp256k1';
import { ecc } from '../../common/index.ts';
import { signVerifyRate } from '../../test/bench/curveBound.ts';
import { printResult } from '../../test/bench/measure.ts';
import { createSoftHsmDir } from '../../test/infra/softhsm.ts';
import { generateKey, initToken, openCustody, parseCustodyConfig } from '../index.ts';
import { unbondingRequestFor } from '../testRequests.ts';

const N = Number(process.argv[2] ?? 3000);
const hsm = await createSoftHsmDir();
try {
  const config = parseCustodyConfig({
    backend: 'pkcs11',
    pkcs11: { token_label: 'bench', pin_file: await hsm.secretFile('pin', '1234') },
  });
  const logger = { warn() {} };
  await initToken(config, { soPin: { file: await hsm.secretFile('so', 'so-1234') } });
  await generateKey(config, { logger });
  const custody = await openCustody(config, { logger });
  const [key] = await custody.publicKeys();
  const reqs = Array.from({ length: 64 }, (_, i) => unbondingRequestFor(key!, { label: `bench-${i}` }));
  for (let i = 0; i < 200; i++) await custody.sign(reqs[i % reqs.length]!); // warm-up

  const per: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await custody.sign(reqs[i % reqs.length]!);
    per.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const pkcs11Ms = Number(process.hrtime.bigint() - t0) / 1e6;
  per.sort((a, b) => a - b);

  const raw = signVerifyRate('native libsecp256k1', ecc, N);
  const rawTiny = signVerifyRate('tiny-secp256k1 (WASM)', tiny, N);
  const rawMs = (raw.seconds / raw.ops) * N * 1000;

  // Event-loop blocking under a burst of concurrent requests: the longest gap between ticks of a 1 ms
  // interval (monitorEventLoopDelay missed a blocked burst here; a gap measure cannot).
  let last = performance.now();
  let maxGap = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  last = performance.now();
  maxGap = 0;
  const burst0 = performance.now();
  await Promise.all(Array.from({ length: 500 }, (_, i) => custody.sign(reqs[i % reqs.length]!)));
  const burstMs = performance.now() - burst0;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(tick);
  await custody.close();

  const q = (p: number) => per[Math.min(per.length - 1, Math.floor(p * per.length))]!.toFixed(3);
  console.log(
    `pkcs11 sign (unseal + BIP340 sign + verify), ${N} sequential: ${(N / (pkcs11Ms / 1000)).toFixed(0)}/s, ${(pkcs11Ms / N).toFixed(3)} ms each (p50 ${q(0.5)}, p99 ${q(0.99)}, max ${per.at(-1)!.toFixed(3)} ms)`,
  );
  for (const r of [raw, rawTiny]) {
    console.log(
      `raw ${r.label} sign + verify, one core, ${r.ops}: ${r.perSecond.toFixed(0)}/s, ${((r.seconds / r.ops) * 1000).toFixed(3)} ms each`,
    );
  }
  console.log(
    `PKCS#11 share (decrypt under the session working key, pool): ~${((pkcs11Ms - rawMs) / N).toFixed(3)} ms per signature`,
  );
  console.log(
    `500 concurrent signs: ${burstMs.toFixed(0)} ms in all; longest event-loop stall ${maxGap.toFixed(1)} ms`,
  );
  printResult({
    pkcs11_sig_per_s: Math.round(N / (pkcs11Ms / 1000)),
    raw_native_per_s: Math.round(raw.perSecond),
    raw_tiny_per_s: Math.round(rawTiny.perSecond),
    native_over_tiny: raw.perSecond / rawTiny.perSecond,
  });
} finally {
  await hsm.cleanup();
}
