import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import { type CustodyBackend, generateKey, openCustody, parseCustodyConfig } from '../hsm/index.ts';
import {
  buildUnbondingInfo,
  buildUnbondingWitness,
  parseTransaction,
  unbondingSighash,
  verifySchnorr,
} from '../staking/index.ts';
import { MtlsClient, type Outcome } from '../test/infra/mtlsClient.ts';
import { type SignerHarness, type Stake, startSignerHarness } from '../test/infra/signerHarness.ts';
import { testKey } from '../test/keys.ts';
import { AuditLog, verifyAuditFile } from './audit.ts';

/**
 * The covenant signer end to end over mutual TLS, against a real Knots node and the real file
 * custody backend (the hsm/ conformance suite runs every backend; here the signer's own rules are
 * under test). Every refusal must carry its code, sign nothing, and leave an audit record.
 */
let h: SignerHarness;
let custody: CustodyBackend;
let keyDir: string;
const ROUTE = '/v1/sign-unbonding-tx';

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'signer-key-'));
  process.env.SIGNER_TEST_KEY_PASSPHRASE = 'correct horse battery staple';
  const cfg = parseCustodyConfig({
    backend: 'file',
    file: {
      path: join(keyDir, 'covenant.key'),
      passphrase_env: 'SIGNER_TEST_KEY_PASSPHRASE',
      allow_insecure_file_backend: true,
    },
  });
  const quiet = pino({ level: 'fatal' });
  await generateKey(cfg, { logger: quiet });
  custody = await openCustody(cfg, { logger: quiet });
  h = await startSignerHarness(custody);
});

afterAll(async () => {
  await h?.stop();
  await custody?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

function auditRecords(): Array<Record<string, unknown>> {
  return readFileSync(h.config.audit.file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function signedBy(stake: Stake, signatureHex: string): Promise<Transaction> {
  const tx = parseTransaction(stake.unbondingTx.toHex());
  const sighash = unbondingSighash(tx, stake.exp);
  tx.ins[0]!.witness = buildUnbondingWitness({
    covenantKeys: h.params.versions[0]!.covenantKeys,
    quorum: 2,
    covenantSignatures: [
      { key: h.signerKey, signature: Buffer.from(signatureHex, 'hex') },
      { key: h.others[0]!.xOnly, signature: h.others[0]!.sign(sighash) },
    ],
    stakerSignature: stake.stakerSig,
    leaf: stake.data.stakingInfo.unbonding,
  });
  return tx;
}

describe('signing: the happy path and the one-unbonding-per-output rule', () => {
  let stake: Stake;
  let signature: string;

  it('signs a valid request; the node accepts and mines the fully signed unbonding tx', async () => {
    stake = await h.stake(200_000n);
    const r = await h.client.call('POST', ROUTE, stake.body());
    expect(r.status).toBe(200);
    signature = (r.json as { data: { signature_hex: string } }).data.signature_hex;
    expect(signature).toMatch(/^[0-9a-f]{128}$/);
    expect(
      verifySchnorr(
        unbondingSighash(stake.unbondingTx, stake.exp),
        h.signerKey,
        Buffer.from(signature, 'hex'),
      ),
    ).toBe(true);
    const tx = await signedBy(stake, signature);
    const [accept] = await h.node.rpc.testmempoolaccept([tx.toHex()]);
    expect(accept?.allowed).toBe(true);
    await h.node.rpc.sendrawtransaction(tx.toHex());
    await h.mine();
    expect((await h.node.rpc.getrawtransaction(tx.getId(), true)).confirmations).toBe(1);
    const last = auditRecords().at(-1)!;
    expect(last).toMatchObject({
      event: 'decision',
      outcome: 'signed',
      caller: 'pipeline',
      staking_txid: stake.txid,
      signature,
    });
  });

  it('answers an identical repeat with the identical signature, and records it as repeated', async () => {
    const r = await h.client.call('POST', ROUTE, stake.body());
    expect(r.status).toBe(200);
    expect((r.json as { data: { signature_hex: string } }).data.signature_hex).toBe(signature);
    expect(auditRecords().at(-1)).toMatchObject({ outcome: 'repeated', signature });
  });

  it('remembers across a restart: the same signature again, from the audit log', async () => {
    await h.restart();
    const r = await h.client.call('POST', ROUTE, stake.body());
    expect((r.json as { data: { signature_hex: string } }).data.signature_hex).toBe(signature);
  });

  it('refuses a different unbonding tx for an output it already signed (409), even after a restart', async () => {
    const other = await h.stake(150_000n);
    // Simulate an earlier signature for this output over another tx (e.g. under other rules).
    await h.signer.stop();
    const log = await AuditLog.open(h.config.audit.file, custody.audit);
    await log.append({
      event: 'decision',
      outcome: 'signed',
      staking_txid: other.txid,
      staking_vout: other.data.stakingOutputIndex,
      unbonding_txid: 'ff'.repeat(32),
      covenant_key: toHex(h.signerKey),
      signature: '00'.repeat(64),
    });
    await log.close();
    await h.restart();
    const r = await h.client.call('POST', ROUTE, other.body());
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ errorCode: 'FORBIDDEN', code: 'SIGNER_ALREADY_SIGNED_OTHER' });
  });
});

describe('every check refuses on its own, with its code, signing nothing, leaving an audit record', () => {
  let base: Stake;
  beforeAll(async () => {
    base = await h.stake(300_000n);
  });

  /** Re-signs a mutated unbonding tx as the staker, so only the mutated rule is violated. */
  const restaked = (s: Stake, mutate: (tx: Transaction) => void) => {
    const tx = parseTransaction(s.unbondingTx.toHex());
    mutate(tx);
    // A tx of the wrong shape has no unbonding sighash; it is refused before the signature matters.
    const sig = tx.ins.length === 1 ? h.staker.sign(unbondingSighash(tx, s.exp)) : s.stakerSig;
    return { ...s.body(), unbonding_tx_hex: tx.toHex(), staker_unbonding_sig_hex: toHex(sig) };
  };

  const cases: Array<[string, () => Promise<Record<string, unknown> | string>, number, string]> = [
    [
      'a body that is not JSON',
      async () => '{"staking_output_pk_script_hex":',
      400,
      'SIGNER_BAD_REQUEST_BODY',
    ],
    ['an unknown field', async () => ({ ...base.body(), extra: 'x' }), 400, 'SIGNER_BAD_REQUEST_BODY'],
    [
      'a missing field',
      async () => {
        const b: Record<string, string> = { ...base.body() };
        delete b.covenant_public_key;
        return b;
      },
      400,
      'SIGNER_BAD_REQUEST_BODY',
    ],
    [
      'a number where hex is expected',
      async () => ({ ...base.body(), covenant_public_key: 12 }),
      400,
      'SIGNER_BAD_REQUEST_BODY',
    ],
    [
      'a staking script that is not P2TR',
      async () => ({ ...base.body(), staking_output_pk_script_hex: `0014${'11'.repeat(20)}` }),
      400,
      'SIGNER_INVALID_STAKING_OUTPUT_SCRIPT',
    ],
    [
      'a 32-byte covenant key',
      async () => ({ ...base.body(), covenant_public_key: toHex(h.signerKey) }),
      400,
      'SIGNER_INVALID_COVENANT_KEY',
    ],
    [
      'odd-length unbonding hex',
      async () => ({ ...base.body(), unbonding_tx_hex: `${base.unbondingTx.toHex()}0` }),
      400,
      'SIGNER_INVALID_UNBONDING_TX',
    ],
    [
      'a truncated unbonding tx',
      async () => ({ ...base.body(), unbonding_tx_hex: base.unbondingTx.toHex().slice(0, 60) }),
      400,
      'SIGNER_INVALID_UNBONDING_TX',
    ],
    [
      'a 63-byte staker signature',
      async () => ({ ...base.body(), staker_unbonding_sig_hex: 'ab'.repeat(63) }),
      400,
      'SIGNER_INVALID_STAKER_SIGNATURE',
    ],
    [
      'two inputs',
      async () => restaked(base, (tx) => tx.addInput(new Uint8Array(32), 0, 0xffffffff)),
      400,
      'STAKING_UNBONDING_INPUT_COUNT',
    ],
    [
      'two outputs',
      async () => restaked(base, (tx) => tx.addOutput(tx.outs[0]!.script, 1n)),
      400,
      'STAKING_UNBONDING_OUTPUT_COUNT',
    ],
    [
      'version 1',
      async () =>
        restaked(base, (tx) => {
          tx.version = 1;
        }),
      400,
      'STAKING_UNBONDING_VERSION',
    ],
    [
      'lock time 1',
      async () =>
        restaked(base, (tx) => {
          tx.locktime = 1;
        }),
      400,
      'STAKING_UNBONDING_LOCKTIME',
    ],
    [
      'a replaceable sequence',
      async () =>
        restaked(base, (tx) => {
          tx.ins[0]!.sequence = 0xfffffffd;
        }),
      400,
      'STAKING_UNBONDING_SEQUENCE',
    ],
    [
      'a scriptSig',
      async () =>
        restaked(base, (tx) => {
          tx.ins[0]!.script = Uint8Array.of(0x51);
        }),
      400,
      'STAKING_UNBONDING_SCRIPTSIG',
    ],
    [
      'a key this signer does not hold',
      async () => base.body(h.others[0]!.xOnly),
      400,
      'SIGNER_KEY_NOT_HELD',
    ],
    [
      'a staker signature by another key',
      async () => ({
        ...base.body(),
        staker_unbonding_sig_hex: toHex(
          testKey('mallory').sign(unbondingSighash(base.unbondingTx, base.exp)),
        ),
      }),
      400,
      'SIGNER_INVALID_STAKER_SIGNATURE',
    ],
    [
      'a staking tx the node does not know',
      async () =>
        restaked(base, (tx) => {
          tx.ins[0]!.hash = new Uint8Array(32).fill(7);
        }),
      400,
      'SIGNER_STAKING_TX_NOT_FOUND',
    ],
    [
      'a staking tx still in the mempool',
      async () => (await h.stake(120_000n, 100, { confirm: 0 })).body(),
      400,
      'SIGNER_STAKING_TX_UNCONFIRMED',
    ],
    [
      'a staking tx with fewer confirmations than the params require',
      async () => (await h.stake(130_000n, 100, { confirm: 1 })).body(),
      400,
      'SIGNER_NOT_ENOUGH_CONFIRMATIONS',
    ],
    [
      'an outpoint of a tx that is not a staking tx',
      async () => {
        const txid = await h.wallet.sendtoaddress(await h.wallet.getnewaddress('', 'bech32m'), 50_000n);
        await h.mine(2);
        return restaked(base, (tx) => {
          tx.ins[0]!.hash = Buffer.from(txid, 'hex').reverse();
          tx.ins[0]!.index = 0;
        });
      },
      400,
      'SIGNER_NOT_A_STAKING_TX',
    ],
    [
      'spending the OP_RETURN instead of the staking output',
      async () =>
        restaked(base, (tx) => {
          tx.ins[0]!.index = base.data.opReturnIndex;
        }),
      400,
      'STAKING_UNBONDING_WRONG_INPUT',
    ],
    [
      'a staking script that is not the spent output',
      async () => ({ ...base.body(), staking_output_pk_script_hex: toHex(base.exp.unbondingInfo.pkScript) }),
      400,
      'SIGNER_STAKING_OUTPUT_MISMATCH',
    ],
    [
      'a stake below the minimum amount',
      async () => (await h.stake(9_000n, 100, { unchecked: true })).body(),
      400,
      'STAKING_VALUE_OUT_OF_RANGE',
    ],
    [
      'a stake shorter than the minimum time',
      async () => (await h.stake(50_000n, 4, { unchecked: true })).body(),
      400,
      'STAKING_TIME_OUT_OF_RANGE',
    ],
    [
      'one sat more fee',
      async () =>
        restaked(base, (tx) => {
          tx.outs[0]!.value -= 1n;
        }),
      400,
      'STAKING_UNBONDING_WRONG_VALUE',
    ],
    [
      'one sat less fee',
      async () =>
        restaked(base, (tx) => {
          tx.outs[0]!.value += 1n;
        }),
      400,
      'STAKING_UNBONDING_WRONG_VALUE',
    ],
    [
      'an unbonding output with another unbonding time',
      async () => {
        const other = buildUnbondingInfo(
          {
            stakerKey: h.staker.xOnly,
            fpKeys: [base.data.fpKey],
            covenantKeys: h.params.versions[0]!.covenantKeys,
            covenantQuorum: 2,
          },
          4,
        );
        return restaked(base, (tx) => {
          tx.outs[0]!.script = other.pkScript;
        });
      },
      400,
      'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT',
    ],
    [
      'a staking_tx_hex of another tx',
      async () => ({ ...base.body(), staking_tx_hex: (await h.stake(110_000n)).tx.toHex() }),
      400,
      'SIGNER_INVALID_STAKING_TX',
    ],
  ];

  it.each(cases)('refuses %s', async (_name, make, status, code) => {
    const body = await make();
    const before = auditRecords().length;
    const o: Outcome =
      typeof body === 'string'
        ? await h.client.send('POST', ROUTE, undefined, body)
        : await h.client.send('POST', ROUTE, body);
    if (o.kind !== 'http') throw new Error(`no HTTP answer: ${o.error}`);
    expect(o.answer.status).toBe(status);
    expect(o.answer.json).toMatchObject({ errorCode: 'BAD_REQUEST', code });
    expect(JSON.stringify(o.answer.json)).not.toContain('signature_hex');
    const after = auditRecords();
    // Schema failures are refused by the HTTP layer before the signer decides; everything else is audited.
    if (code !== 'SIGNER_BAD_REQUEST_BODY') {
      expect(after.length).toBe(before + 1);
      expect(after.at(-1)).toMatchObject({ event: 'decision', outcome: 'refused', code, caller: 'pipeline' });
      expect(after.at(-1)!.signature).toBeUndefined();
    }
  });

  it('accepts the untouched base request afterwards (each case broke only its own rule)', async () => {
    const r = await h.client.call('POST', ROUTE, base.body());
    expect(r.status).toBe(200);
  });

  it('signs with the staking tx given in the request too', async () => {
    const s = await h.stake(140_000n);
    const r = await h.client.call('POST', ROUTE, { ...s.body(), staking_tx_hex: s.tx.toHex() });
    expect(r.status).toBe(200);
  });
});

describe('mutual TLS: only listed client certificates get any answer', () => {
  const outcome = async (client: MtlsClient) => {
    const o = await client.send('GET', '/healthz');
    client.close();
    return o.kind === 'http' ? `http ${o.answer.status}` : 'no-http';
  };
  it('answers a listed client', async () => {
    expect(
      await outcome(
        new MtlsClient(h.signer.url, { caFile: h.pki.ca.cert, identity: h.pki.clients.pipeline! }),
      ),
    ).toBe('http 200');
  });
  it('gives no HTTP answer without a client certificate', async () => {
    expect(await outcome(new MtlsClient(h.signer.url, { caFile: h.pki.ca.cert }))).toBe('no-http');
  });
  it('gives no HTTP answer to a certificate from another CA', async () => {
    expect(
      await outcome(new MtlsClient(h.signer.url, { caFile: h.pki.ca.cert, identity: h.pki.otherClient })),
    ).toBe('no-http');
  });
  it('gives no HTTP answer to a certificate of the right CA whose fingerprint is not listed', async () => {
    expect(
      await outcome(
        new MtlsClient(h.signer.url, { caFile: h.pki.ca.cert, identity: h.pki.clients.unlisted! }),
      ),
    ).toBe('no-http');
  });
});

describe('operating surface', () => {
  it('lists its keys and the params versions listing them', async () => {
    const r = await h.client.call('GET', '/v1/public-keys');
    expect(r.json).toEqual({
      data: { public_keys: [{ public_key_hex: toHex(h.signerKey), params_versions: [0] }] },
    });
  });

  it('serves readiness and metrics on the plain loopback port', async () => {
    const ready = await fetch(`${h.signer.metricsUrl}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { checks: { params: { sha256: string } } };
    expect(body.checks.params.sha256).toMatch(/^[0-9a-f]{64}$/);
    const metrics = await (await fetch(`${h.signer.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/signer_requests_total\{outcome="signed",code="OK",custody="file"\} \d+/);
    expect(metrics).toMatch(/signer_requests_total\{outcome="refused",code="STAKING_UNBONDING_VERSION"/);
    expect(metrics).toContain('signer_bitcoind_tip_height');
  });

  it('keeps a verifiable audit log', () => {
    expect(verifyAuditFile(h.config.audit.file)).toMatchObject({ ok: true });
  });
});

describe('fuzzing the request: mutated bodies never get a 5xx or a new signature', () => {
  it('answers every mutated request with a 4xx, or with the one signature it already gave', async () => {
    const stake = await h.stake(175_000n);
    const good = await h.client.call('POST', ROUTE, stake.body());
    const known = (good.json as { data: { signature_hex: string } }).data.signature_hex;
    const fields = Object.keys(stake.body());
    const mutation = fc.oneof(
      fc
        .record({
          field: fc.constantFrom(...fields),
          pos: fc.nat(),
          ch: fc.constantFrom(...'0123456789abcdefABCDEFxz '),
        })
        .map((m) => ({ kind: 'char' as const, ...m })),
      fc
        .record({ field: fc.constantFrom(...fields), len: fc.nat() })
        .map((m) => ({ kind: 'truncate' as const, ...m })),
      fc
        .record({ field: fc.constantFrom(...fields), value: fc.jsonValue() })
        .map((m) => ({ kind: 'value' as const, ...m })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
        const body: Record<string, unknown> = { ...stake.body() };
        for (const m of ms) {
          const v = String(body[m.field] ?? '');
          if (m.kind === 'char') {
            const i = m.pos % Math.max(1, v.length);
            body[m.field] = v.slice(0, i) + m.ch + v.slice(i + 1);
          } else if (m.kind === 'truncate') body[m.field] = v.slice(0, m.len % Math.max(1, v.length));
          else body[m.field] = m.value;
        }
        const o = await h.client.send('POST', ROUTE, body);
        if (o.kind !== 'http') throw new Error(`no HTTP answer: ${o.error}`);
        expect(o.answer.status).toBeLessThan(500);
        if (o.answer.status === 200) {
          expect((o.answer.json as { data: { signature_hex: string } }).data.signature_hex).toBe(known);
        } else {
          expect(o.answer.status).toBeGreaterThanOrEqual(400);
        }
      }),
      { numRuns: 300 },
    );
  });
});
