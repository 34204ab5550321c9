import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { pino } from 'pino';
import * as ecc from 'tiny-secp256k1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import { type CustodyBackend, generateKey, openCustody, parseCustodyConfig } from '../hsm/index.ts';
import { type Phase2ParamsVersion, parsePhase2ParamsVersions } from '../params/index.ts';
import type { SignTransactionsResponse } from '../staking/index.ts';
import {
  babylonEncryptionKey,
  buildSlashingTx,
  buildStakingInfo,
  decryptAdaptorSignature,
  fundingOutputOf,
  scriptPathSighash,
  serializeTxOut,
  slashingSighash,
  stakeExpansionSighash,
  verifyAdaptorSignature,
} from '../staking/index.ts';
import {
  buildPhase2Delegation,
  type Phase2Delegation,
  phase2ParamsDoc,
  requestBody,
} from '../test/infra/phase2Delegation.ts';
import { rpcMethodsDuring } from '../test/infra/rpcMethods.ts';
import { type SignerHarness, startSignerHarness } from '../test/infra/signerHarness.ts';
import { testKey } from '../test/keys.ts';

/**
 * Phase-2 duties end to end over mutual TLS: a real signer with the real file custody backend and
 * a real Knots regtest node. The wire format is the reference's
 * (babylonlabs-io/covenant-emulator@cdb5178:covenant-signer/signerservice/types/signtransactions.go:15-42,
 * 229-236; the {"data": …} envelope of handlers/handler.go:21-23). Every refusal must carry its
 * code, sign nothing, and leave an audit record.
 */
const ROUTE = '/v1/sign-transactions';
/** Version 1 activates here, with a committee without our key (the height rule's test). */
const V1_HEIGHT = 200;
let h: SignerHarness;
let custody: CustodyBackend;
let dir: string;
let v0: Phase2ParamsVersion;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-p2-'));
  process.env.SIGNER_TEST_P2_PASSPHRASE = 'correct horse battery staple';
  const cfg = parseCustodyConfig({
    backend: 'file',
    file: {
      path: join(dir, 'covenant.key'),
      passphrase_env: 'SIGNER_TEST_P2_PASSPHRASE',
      allow_insecure_file_backend: true,
    },
  });
  const quiet = pino({ level: 'fatal' });
  await generateKey(cfg, { logger: quiet });
  custody = await openCustody(cfg, { logger: quiet });
  const [mine] = await custody.publicKeys();
  // The harness's committee: our key and two test keys (signerHarness.ts names them so).
  const committee = [mine!, testKey('committee-member-0').xOnly, testKey('committee-member-1').xOnly];
  const strangers = [testKey('stranger-0').xOnly, testKey('stranger-1').xOnly, testKey('stranger-2').xOnly];
  const doc = phase2ParamsDoc(
    committee,
    {},
    { covenant_pks: strangers.map(toHex), btc_activation_height: V1_HEIGHT },
  );
  const paramsFile = join(dir, 'params_versions.json');
  writeFileSync(paramsFile, JSON.stringify(doc));
  v0 = parsePhase2ParamsVersions(doc).versions[0]!;
  h = await startSignerHarness(custody, {
    signerEnv: { SIGNER__PHASE2__ENABLED: 'true', SIGNER__PHASE2__PARAMS_FILE: paramsFile },
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await custody?.close();
  rmSync(dir, { recursive: true, force: true });
});

function auditRecords(): Array<Record<string, unknown>> {
  return readFileSync(h.config.audit.file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
const signedCount = () => auditRecords().filter((r) => r.outcome === 'signed').length;
const mined = () => buildPhase2Delegation(v0, { chain: h });

/** Sends `body`; expects a refusal with `code` and `status`, nothing signed, and its audit record. */
async function expectRefused(body: unknown, code: string, status = 400): Promise<void> {
  const before = signedCount();
  const r = await h.client.call('POST', ROUTE, body);
  expect({ status: r.status, code: (r.json as { code?: string }).code }).toEqual({ status, code });
  expect(JSON.stringify(r.json)).not.toMatch(/signature/);
  expect(signedCount()).toBe(before);
  const rec = auditRecords().find((x) => x.correlation_id === r.headers['x-correlation-id']);
  expect(rec).toMatchObject({ event: 'decision', outcome: 'refused', code });
}

describe('phase 2: the happy path', () => {
  let d: Phase2Delegation;
  let answer: SignTransactionsResponse;

  it('signs a mined delegation: every adaptor signature verifies and decrypts with the FP secret into a valid BIP340 signature', async () => {
    d = await mined();
    const r = await h.client.call('POST', ROUTE, d.body);
    expect(r.status).toBe(200);
    answer = (r.json as { data: SignTransactionsResponse }).data;
    expect(Object.keys(answer).sort()).toEqual([
      'slash_unbonding_transactions_signatures',
      'slashing_transactions_signatures',
      'stake_expansion_transaction_signature',
      'unbonding_transaction_signature',
    ]);
    expect(answer.stake_expansion_transaction_signature).toBe('');
    const fp = d.fps[0]!;
    const enc = babylonEncryptionKey(fp.xOnly);
    const cases: Array<[string, Uint8Array]> = [
      [
        answer.slashing_transactions_signatures[0]!,
        slashingSighash(d.slashingTx, d.stakingTx, d.stakingOutputIdx, d.stakingInfo.slashing),
      ],
      [
        answer.slash_unbonding_transactions_signatures[0]!,
        slashingSighash(d.slashUnbondingTx, d.unbondingTx, 0, d.unbondingInfo.slashing),
      ],
    ];
    expect(answer.slashing_transactions_signatures).toHaveLength(1);
    expect(answer.slash_unbonding_transactions_signatures).toHaveLength(1);
    for (const [hex, sighash] of cases) {
      expect(hex).toMatch(/^0[23][0-9a-f]{128}$/);
      const presig = Buffer.from(hex, 'hex');
      expect(verifyAdaptorSignature(h.signerKey, sighash, enc, presig)).toBe(true);
      // The FP's key as the chain lifts it (even Y): negate the secret when its point is odd.
      const fpSecret =
        ecc.pointFromScalar(fp.privateKey, true)![0] === 0x02
          ? fp.privateKey
          : ecc.privateNegate(fp.privateKey);
      const sig = decryptAdaptorSignature(presig, fpSecret);
      expect(ecc.verifySchnorr(sighash, h.signerKey, sig)).toBe(true);
    }
    const unbondingSighash = scriptPathSighash(
      d.unbondingTx,
      0,
      {
        pkScripts: [d.stakingTx.outs[d.stakingOutputIdx]!.script],
        valuesSat: [d.stakingTx.outs[d.stakingOutputIdx]!.value],
      },
      d.stakingInfo.unbonding,
    );
    expect(
      ecc.verifySchnorr(
        unbondingSighash,
        h.signerKey,
        Buffer.from(answer.unbonding_transaction_signature, 'hex'),
      ),
    ).toBe(true);
    expect(auditRecords().at(-1)).toMatchObject({
      event: 'decision',
      kind: 'phase2',
      outcome: 'signed',
      staking_txid: d.stakingTx.getId(),
      signature: answer.unbonding_transaction_signature,
      response: answer,
    });
  });

  it('answers an identical repeat with the identical signatures, recorded as repeated', async () => {
    const r = await h.client.call('POST', ROUTE, d.body);
    expect(r.status).toBe(200);
    expect((r.json as { data: unknown }).data).toEqual(answer);
    expect(auditRecords().at(-1)).toMatchObject({ kind: 'phase2', outcome: 'repeated' });
  });

  it('refuses a different set of txs for the same staking output (409), and still after a restart', async () => {
    const v = { ...v0, minSlashingTxFeeSat: v0.minSlashingTxFeeSat + 1n };
    const slashingTx = buildSlashingTx({
      funding: fundingOutputOf(d.stakingTx, d.stakingOutputIdx),
      stakerKey: d.staker.xOnly,
      params: v,
    });
    const other = requestBody({ ...d, slashingTx });
    await expectRefused(other, 'SIGNER_P2_ALREADY_SIGNED_OTHER', 409);
    await h.restart();
    await expectRefused(other, 'SIGNER_P2_ALREADY_SIGNED_OTHER', 409);
    const again = await h.client.call('POST', ROUTE, d.body);
    expect((again.json as { data: unknown }).data).toEqual(answer);
  });
});

/** A stake expansion of `prev` (§5): input 0 its staking output, input 1 a made-up funding outpoint. */
async function expansionOf(
  prev: Phase2Delegation,
  label: string,
  newValueSat: bigint,
  otherValueSat = 60_000n,
) {
  const keys = {
    stakerKey: prev.staker.xOnly,
    fpKeys: prev.fps.map((f) => f.xOnly),
    covenantKeys: v0.covenantKeys,
    covenantQuorum: v0.covenantQuorum,
  };
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(Buffer.from(prev.stakingTx.getHash()), prev.stakingOutputIdx, 0xffffffff);
  tx.addInput(randomBytes(32), 0, 0xffffffff);
  tx.addOutput(buildStakingInfo(keys, v0.maxStakingTimeBlocks).pkScript, newValueSat);
  const other = { valueSat: otherValueSat, pkScript: Buffer.from(`5120${'11'.repeat(32)}`, 'hex') };
  const d = await buildPhase2Delegation(v0, { stakingTx: tx, valueSat: newValueSat, stakerLabel: label });
  const body = {
    ...d.body,
    stake_expansion: {
      previous_active_stake_tx_hex: prev.stakingTx.toHex(),
      other_funding_output_hex: toHex(serializeTxOut(other)),
      previous_staking_output_idx: prev.stakingOutputIdx,
      previous_active_stake_unbonding_script_hex: toHex(prev.stakingInfo.unbonding.script),
    },
  };
  return { d, tx, other, body };
}

describe('phase 2: the node asked once, cheaply', () => {
  it('places a mined delegation’s staking tx by one gettxout (the request carries the tx), never getrawtransaction', async () => {
    const d = await mined();
    const { result, methods } = await rpcMethodsDuring(() => h.client.call('POST', ROUTE, d.body));
    expect(result.status).toBe(200);
    expect(methods).toContain('gettxout');
    expect(methods).not.toContain('getrawtransaction');
  });
});

describe('phase 2: stake expansion (§5)', () => {
  const label = 'p2-expanding-staker';
  let prev: Phase2Delegation;

  it('signs an expansion of a mined delegation: the expansion signature verifies over both prevouts with the previous unbonding leaf', async () => {
    prev = await buildPhase2Delegation(v0, { chain: h, stakerLabel: label });
    const e = await expansionOf(prev, label, 150_000n);
    const r = await h.client.call('POST', ROUTE, e.body);
    expect(r.status).toBe(200);
    const a = (r.json as { data: SignTransactionsResponse }).data;
    const prevOut = prev.stakingTx.outs[prev.stakingOutputIdx]!;
    const sighash = stakeExpansionSighash(
      e.tx,
      { valueSat: prevOut.value, pkScript: prevOut.script },
      e.other,
      prev.stakingInfo.unbonding,
    );
    expect(
      ecc.verifySchnorr(sighash, h.signerKey, Buffer.from(a.stake_expansion_transaction_signature, 'hex')),
    ).toBe(true);
    expect(a.slashing_transactions_signatures).toHaveLength(1);
    expect(auditRecords().at(-1)).toMatchObject({
      outcome: 'signed',
      expansion_previous_txid: prev.stakingTx.getId(),
      expansion_previous_vout: prev.stakingOutputIdx,
    });
  });

  it('refuses a second, different expansion of the same previous output (409), also after a restart', async () => {
    const e = await expansionOf(prev, label, 140_000n);
    await expectRefused(e.body, 'SIGNER_P2_EXPANSION_ALREADY_SIGNED_OTHER', 409);
    await h.restart();
    await expectRefused(e.body, 'SIGNER_P2_EXPANSION_ALREADY_SIGNED_OTHER', 409);
  });

  it('refuses a previous unbonding script that is not the previous output’s', async () => {
    const p = await buildPhase2Delegation(v0, { chain: h, stakerLabel: label });
    const e = await expansionOf(p, label, 150_000n);
    e.body.stake_expansion.previous_active_stake_unbonding_script_hex = toHex(p.stakingInfo.slashing.script);
    await expectRefused(e.body, 'SIGNER_P2_EXPANSION_PREVIOUS_MISMATCH');
  });

  it('refuses an expansion whose previous staking tx is in no block', async () => {
    const p = await buildPhase2Delegation(v0, { stakerLabel: label });
    await expectRefused(
      (await expansionOf(p, label, 150_000n)).body,
      'SIGNER_P2_EXPANSION_PREVIOUS_UNCONFIRMED',
    );
  });

  it('refuses an expansion that shrinks the stake', async () => {
    const p = await buildPhase2Delegation(v0, { chain: h, stakerLabel: label });
    await expectRefused((await expansionOf(p, label, 90_000n)).body, 'STAKING_EXPANSION_VALUE_DECREASED');
  });
});

describe('GET /v1/public-key, POST /v1/lock and /v1/unlock (the reference’s routes)', () => {
  const metric = async (name: string) => {
    const text = await (await fetch(`${h.signer.metricsUrl}/metrics`)).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  };

  it('gives the key under the reference’s field name', async () => {
    const r = await h.client.call('GET', '/v1/public-key');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ data: { public_key_hex: `02${toHex(h.signerKey)}` } });
  });

  it('locked: signing refused with 500 SIGNER_LOCKED and audited; a wrong passphrase is refused, counted and never recorded; the right one unlocks', async () => {
    expect(await metric('signer_unlock_status')).toBe(1);
    expect((await h.client.call('POST', '/v1/lock')).json).toEqual({ data: {} });
    expect(await metric('signer_unlock_status')).toBe(0);
    const d = await buildPhase2Delegation(v0);
    await expectRefused(d.body, 'SIGNER_LOCKED', 500);
    expect((await h.client.call('GET', '/v1/public-key')).status).toBe(500);

    const wrong = 'not the passphrase 7f3a';
    const bad = await h.client.call('POST', '/v1/unlock', { passphrase: wrong });
    expect({ status: bad.status, code: (bad.json as { code: string }).code }).toEqual({
      status: 400,
      code: 'SIGNER_UNLOCK_FAILED',
    });
    expect(await metric('signer_failed_unlock_requests')).toBe(1);
    expect(readFileSync(h.config.audit.file, 'utf8')).not.toContain(wrong);
    await expectRefused(d.body, 'SIGNER_LOCKED', 500);

    const ok = await h.client.call('POST', '/v1/unlock', { passphrase: 'correct horse battery staple' });
    expect(ok.json).toEqual({ data: {} });
    expect(await metric('signer_unlock_status')).toBe(1);
    expect(readFileSync(h.config.audit.file, 'utf8')).not.toContain('correct horse battery staple');
    expect(auditRecords().at(-1)).toMatchObject({ event: 'custody_unlocked', caller: 'pipeline' });
    expect((await h.client.call('POST', ROUTE, d.body)).status).toBe(200);
  });
});

describe('phase 2: the negative matrix (each rule broken alone)', () => {
  const cases: Array<[string, () => Promise<unknown>, string, number?]> = [
    [
      'a staking tx that does not deserialize',
      async () => ({ ...(await buildPhase2Delegation(v0)).body, staking_tx_hex: '0200' }),
      'SIGNER_P2_INVALID_TX',
    ],
    [
      'an FP encryption key that is not a point',
      async () => ({ ...(await buildPhase2Delegation(v0)).body, fp_enc_keys: [`02${'ff'.repeat(32)}`] }),
      'SIGNER_P2_INVALID_ENC_KEY',
    ],
    [
      'the encryption key of another finality provider',
      async () => ({
        ...(await buildPhase2Delegation(v0)).body,
        fp_enc_keys: [`02${toHex(testKey('another-fp').xOnly)}`],
      }),
      'SIGNER_P2_FP_KEYS_MISMATCH',
    ],
    [
      'the same FP key twice',
      async () => {
        const b = (await buildPhase2Delegation(v0)).body;
        return { ...b, fp_enc_keys: [b.fp_enc_keys[0]!, b.fp_enc_keys[0]!] };
      },
      'SIGNER_P2_FP_KEYS_MISMATCH',
    ],
    [
      'a staking value below the minimum',
      async () => (await buildPhase2Delegation(v0, { valueSat: v0.minStakingValueSat - 1n })).body,
      'SIGNER_P2_STAKING_VALUE_OUT_OF_BOUNDS',
    ],
    [
      'a staking value above the maximum',
      async () => (await buildPhase2Delegation(v0, { valueSat: v0.maxStakingValueSat + 1n })).body,
      'SIGNER_P2_STAKING_VALUE_OUT_OF_BOUNDS',
    ],
    [
      'a staking time above the maximum',
      async () => (await buildPhase2Delegation(v0, { stakingTime: v0.maxStakingTimeBlocks + 1 })).body,
      'SIGNER_P2_STAKING_OUTPUT_MISMATCH',
    ],
    [
      'a staking time below the minimum',
      async () => (await buildPhase2Delegation(v0, { stakingTime: v0.minStakingTimeBlocks - 1 })).body,
      'SIGNER_P2_STAKING_OUTPUT_MISMATCH',
    ],
    [
      'a staking output index beyond the outputs',
      async () => ({ ...(await buildPhase2Delegation(v0)).body, staking_output_idx: 7 }),
      'SIGNER_P2_STAKING_OUTPUT_MISMATCH',
    ],
    [
      'an unbonding script of another committee quorum',
      async () => {
        const d = await buildPhase2Delegation(v0);
        const quorum1 = buildStakingInfo(
          {
            stakerKey: d.staker.xOnly,
            fpKeys: [d.fps[0]!.xOnly],
            covenantKeys: v0.covenantKeys,
            covenantQuorum: 1,
          },
          v0.maxStakingTimeBlocks,
        );
        return { ...d.body, unbonding_script_hex: toHex(quorum1.unbonding.script) };
      },
      'SIGNER_P2_SCRIPT_MISMATCH',
    ],
    [
      'an unbonding-slashing script that is not the slashing leaf',
      async () => {
        const d = await buildPhase2Delegation(v0);
        return { ...d.body, unbonding_slashing_script_hex: d.body.unbonding_script_hex };
      },
      'SIGNER_P2_SCRIPT_MISMATCH',
    ],
    [
      'an unbonding time other than the params’',
      async () => (await buildPhase2Delegation(v0, { unbondingTime: v0.unbondingTimeBlocks + 1 })).body,
      'SIGNER_P2_UNBONDING_WRONG_OUTPUT',
    ],
    [
      'an unbonding fee other than the params’',
      async () =>
        (await buildPhase2Delegation(v0, { unbondingValueSat: 100_000n - v0.unbondingFeeSat - 1n })).body,
      'SIGNER_P2_UNBONDING_FEE_MISMATCH',
    ],
    [
      'an unbonding tx that spends another output',
      async () => {
        const d = await buildPhase2Delegation(v0);
        const u = Transaction.fromHex(d.unbondingTx.toHex());
        u.ins[0]!.index = 1;
        const slashUnbondingTx = buildSlashingTx({
          funding: fundingOutputOf(u, 0),
          stakerKey: d.staker.xOnly,
          params: v0,
        });
        return requestBody({ ...d, unbondingTx: u, slashUnbondingTx });
      },
      'SIGNER_P2_UNBONDING_WRONG_INPUT',
    ],
    [
      'a slashing tx that pays another slashing script',
      async () => {
        const d = await buildPhase2Delegation(v0);
        const slashingTx = buildSlashingTx({
          funding: fundingOutputOf(d.stakingTx, d.stakingOutputIdx),
          stakerKey: d.staker.xOnly,
          params: { ...v0, slashingPkScript: Buffer.from(`0014${'77'.repeat(20)}`, 'hex') },
        });
        return requestBody({ ...d, slashingTx });
      },
      'STAKING_SLASHING_WRONG_SLASHING_SCRIPT',
    ],
    [
      'an unbonding-slashing tx with a fee below the minimum',
      async () => {
        const d = await buildPhase2Delegation(v0);
        const slashUnbondingTx = buildSlashingTx({
          funding: fundingOutputOf(d.unbondingTx, 0),
          stakerKey: d.staker.xOnly,
          params: { ...v0, minSlashingTxFeeSat: v0.minSlashingTxFeeSat - 1n },
        });
        return requestBody({ ...d, slashUnbondingTx });
      },
      'STAKING_SLASHING_FEE_TOO_LOW',
    ],
    [
      'a field the reference does not define',
      async () => ({ ...(await buildPhase2Delegation(v0)).body, covenant_public_key: '02' }),
      'SIGNER_BAD_REQUEST_BODY',
    ],
  ];
  it.each(cases)('%s: refused with its code, nothing signed, audited', async (_name, body, code, status) => {
    await expectRefused(await body(), code, status ?? 400);
  });

  it('a staking tx included after params version 1 activated, with a committee without our key', async () => {
    while ((await h.node.rpc.getblockcount()) < V1_HEIGHT) await h.mine(50);
    const d = await mined();
    await expectRefused(d.body, 'SIGNER_P2_KEY_NOT_IN_COMMITTEE');
  });
});

const hex = (maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength });

describe('phase 2: fuzzed bodies', () => {
  it('never answer 5xx, never crash, never carry a signature', async () => {
    const base = (await buildPhase2Delegation(v0)).body as unknown as Record<string, unknown>;
    const before = signedCount();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything(),
          fc.record({
            field: fc.constantFrom(...Object.keys(base)),
            value: fc.oneof(hex(300), fc.integer(), fc.array(hex(70), { maxLength: 3 })),
          }),
        ),
        async (x) => {
          const body =
            x && typeof x === 'object' && 'field' in (x as object) && 'value' in (x as object)
              ? { ...base, [(x as { field: string }).field]: (x as { value: unknown }).value }
              : x;
          const r = await h.client.call('POST', ROUTE, body);
          expect(r.status).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
    expect(signedCount()).toBe(before);
    expect((await h.client.call('GET', '/healthz')).status).toBe(200);
  });
});

describe('phase 2 on /readyz and on reload', () => {
  it('shows the phase-2 params versions on /readyz', async () => {
    const r = await fetch(`${h.signer.metricsUrl}/readyz`);
    const j = (await r.json()) as { checks: { phase2: { versions: number[] } } };
    expect(j.checks.phase2.versions).toEqual([0, 1]);
  });

  it('refuses a reload that changes a version, audits and counts it; the old params stay', async () => {
    const file = h.config.phase2.params_file;
    const original = readFileSync(file, 'utf8');
    const doc = JSON.parse(original) as { params: Array<{ params: Record<string, unknown> }> };
    doc.params[0]!.params.unbonding_fee_sat = '1001';
    writeFileSync(file, JSON.stringify(doc));
    const res = await h.signer.reloadPhase2Params!();
    expect(res.ok).toBe(false);
    expect(auditRecords().at(-1)).toMatchObject({
      event: 'phase2_params_reload_refused',
      code: 'PARAMS_PHASE2_RELOAD_REFUSED',
    });
    const metrics = await (await fetch(`${h.signer.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/signer_phase2_params_reloads_total\{result="refused"[^}]*\} 1/);
    writeFileSync(file, original);
    expect((await h.signer.reloadPhase2Params!()).ok).toBe(true);
  });
});
