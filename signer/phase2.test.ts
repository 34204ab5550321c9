import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodedError, toHex } from '../common/index.ts';
import { adaptorSignAll, type CustodyBackend, schnorrSign } from '../hsm/index.ts';
import { parsePhase2ParamsVersions } from '../params/index.ts';
import { buildSlashingTx, fundingOutputOf } from '../staking/index.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { buildPhase2Delegation, phase2ParamsDoc, requestBody } from '../test/infra/phase2Delegation.ts';
import { testKey } from '../test/keys.ts';
import { AuditLog } from './audit.ts';
import type { ChainView } from './chain.ts';
import { type Phase2SignedRecord, Phase2Signer, phase2ReplayCollector } from './phase2.ts';
import type { SignedRecord } from './service.ts';

/*
 * The phase-2 decision core's rules that the integration tests cannot reach through HTTP alone:
 * the tip-height fallback, phase 1's memory, the per-output lock. Custody is a boundary stand-in
 * that signs with a test key through hsm/'s own signing helpers; the real backends are in
 * signer/phase2*.int.test.ts.
 */
const me = testKey('p2-unit-covenant');
const doc = phase2ParamsDoc([me.xOnly, testKey('m0').xOnly, testKey('m1').xOnly], {
  btc_activation_height: 100,
});
const params = parsePhase2ParamsVersions(doc);
const v0 = params.versions[0]!;

let dir: string;
let audit: AuditLog;
let tip: number;
let phase1: Map<string, SignedRecord>;
let signed: Map<string, Phase2SignedRecord>;
let signer: Phase2Signer;
let custodySigns: number;
let auditCustody: MemoryAuditCustody;

/** Not in any block of the node: the params come from the tip, as for a pre-inclusion registration. */
const chain: ChainView = {
  async getTransaction() {
    throw new CodedError('SIGNER_STAKING_TX_NOT_FOUND', 'not found');
  },
  async getBlockHeight() {
    return 0;
  },
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2-unit-'));
  auditCustody = new MemoryAuditCustody();
  audit = await AuditLog.open(join(dir, 'audit.jsonl'), auditCustody);
  tip = 150;
  phase1 = new Map();
  signed = new Map();
  custodySigns = 0;
  const custody = {
    kind: 'file',
    async publicKeys() {
      return [me.xOnly];
    },
    async sign(req) {
      custodySigns++;
      return schnorrSign(req.sighash, me.privateKey);
    },
    async adaptorSign(req) {
      custodySigns++;
      await new Promise((r) => setTimeout(r, 5));
      return adaptorSignAll(req, me.privateKey);
    },
    audit: auditCustody,
    async health() {
      return { ok: true, detail: 'unit' };
    },
    async close() {},
  } satisfies CustodyBackend;
  const locks = new Map<string, Promise<unknown>>();
  signer = new Phase2Signer({
    params: () => params,
    chain,
    tipHeight: async () => tip,
    custody,
    audit,
    heldKeys: () => new Set([toHex(me.xOnly)]),
    phase1,
    signed,
    expansions: new Map(),
    exclusive: async (slot, fn) => {
      const before = locks.get(slot) ?? Promise.resolve();
      const run = before.then(fn, fn);
      locks.set(
        slot,
        run.catch(() => undefined),
      );
      return run;
    },
  });
});
afterEach(async () => {
  await audit.close();
  rmSync(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as CodedError).code;
  }
  return undefined;
}

describe('Phase2Signer', () => {
  it('refuses below the first activation height (SIGNER_P2_NO_PARAMS_VERSION), signing nothing', async () => {
    tip = 99;
    const d = await buildPhase2Delegation(v0);
    expect(await codeOf(signer.sign(d.body, 'c', 'id-1'))).toBe('SIGNER_P2_NO_PARAMS_VERSION');
    expect(custodySigns).toBe(0);
    tip = 100;
    expect((await signer.sign(d.body, 'c', 'id-2')).outcome).toBe('signed');
  });

  it('refuses an unbonding tx that disagrees with phase 1’s memory (SIGNER_P2_UNBONDING_DISAGREES)', async () => {
    const d = await buildPhase2Delegation(v0);
    const slot = `${d.stakingTx.getId()}:${d.stakingOutputIdx}:${toHex(me.xOnly)}`;
    phase1.set(slot, { unbondingTxid: 'ab'.repeat(32), signatureHex: '00'.repeat(64) });
    expect(await codeOf(signer.sign(d.body, 'c', 'id-1'))).toBe('SIGNER_P2_UNBONDING_DISAGREES');
    expect(custodySigns).toBe(0);
    // The same unbonding tx as phase 1 signed: allowed, and phase 1's record stays as it was.
    phase1.set(slot, { unbondingTxid: d.unbondingTx.getId(), signatureHex: '11'.repeat(64) });
    expect((await signer.sign(d.body, 'c', 'id-2')).outcome).toBe('signed');
    expect(phase1.get(slot)?.signatureHex).toBe('11'.repeat(64));
  });

  it('records a phase-2 unbonding signature in phase 1’s memory, so phase 1 refuses another unbonding tx', async () => {
    const d = await buildPhase2Delegation(v0);
    const out = await signer.sign(d.body, 'c', 'id-1');
    const slot = `${d.stakingTx.getId()}:${d.stakingOutputIdx}:${toHex(me.xOnly)}`;
    expect(phase1.get(slot)).toEqual({
      unbondingTxid: d.unbondingTx.getId(),
      signatureHex: out.response.unbonding_transaction_signature,
    });
  });

  it('two concurrent requests with different sets for one output: exactly one is signed', async () => {
    const d = await buildPhase2Delegation(v0);
    const slashingTx = buildSlashingTx({
      funding: fundingOutputOf(d.stakingTx, d.stakingOutputIdx),
      stakerKey: d.staker.xOnly,
      params: { ...v0, minSlashingTxFeeSat: v0.minSlashingTxFeeSat + 7n },
    });
    const other = requestBody({ ...d, slashingTx });
    const codes = await Promise.all([
      codeOf(signer.sign(d.body, 'c', 'a')),
      codeOf(signer.sign(other, 'c', 'b')),
    ]);
    expect(codes.sort()).toEqual(['SIGNER_P2_ALREADY_SIGNED_OTHER', undefined]);
  });

  it('refuses a slashing script whose staker key is no x-only key (x = 0 has no point), signing nothing', async () => {
    const d = await buildPhase2Delegation(v0);
    const script = d.body.slashing_script_hex;
    const body = {
      ...d.body,
      slashing_script_hex: `${script.slice(0, 2)}${'00'.repeat(32)}${script.slice(66)}`,
    };
    let refusal: CodedError | undefined;
    try {
      await signer.sign(body, 'c', 'id-1');
    } catch (e) {
      refusal = e as CodedError;
    }
    expect(refusal).toMatchObject({
      code: 'SIGNER_P2_SCRIPT_MISMATCH',
      message: 'the staker key of slashing_script_hex is not a valid x-only public key',
    });
    expect(custodySigns).toBe(0);
  });

  it('rebuilds the same memory from the audit log (phase2ReplayCollector)', async () => {
    const d = await buildPhase2Delegation(v0);
    const out = await signer.sign(d.body, 'c', 'id-1');
    await audit.close();
    const replay = phase2ReplayCollector();
    audit = await AuditLog.open(join(dir, 'audit.jsonl'), auditCustody, replay.onRecord);
    expect([...replay.index.values()][0]?.response).toEqual(out.response);
  });
});
