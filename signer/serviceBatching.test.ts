import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bytesEqual } from '../common/index.ts';
import { type CustodyBackend, schnorrSign } from '../hsm/index.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { type OfflineStake, offlineStake } from '../test/infra/scriptedPeers.ts';
import { AuditLog } from './audit.ts';
import type { ChainView } from './chain.ts';
import { CovenantSigner, type SignedRecord } from './service.ts';

/*
 * Group commit across decisions: a decision under way is expected by the audit log, so a batch
 * waits for it, and a decision waiting for another one's record is not. The log's wait is bounded by
 * a timer; here timers never fire, so a batch that waited for a decision that waits for it would
 * never be written and the test would not end.
 */
let dir: string;
let auditCustody: MemoryAuditCustody;
let audit: AuditLog;
let stake: OfflineStake;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  dir = mkdtempSync(join(tmpdir(), 'signer-batching-'));
  auditCustody = new MemoryAuditCustody();
  audit = await AuditLog.open(join(dir, 'audit.jsonl'), auditCustody);
  stake = offlineStake('signer-batching');
});
afterEach(async () => {
  await audit.close();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

/** Custody holding covenants 0 and 1. */
const custody = (): CustodyBackend => {
  const held = stake.covenants.slice(0, 2);
  return {
    kind: 'file',
    async publicKeys() {
      return held.map((k) => k.xOnly);
    },
    async sign(req) {
      const k = held.find((h) => bytesEqual(h.xOnly, req.key))!;
      return schnorrSign(req.sighash, k.privateKey);
    },
    audit: new MemoryAuditCustody(),
    async health() {
      return { ok: true, detail: 'unit' };
    },
    async close() {},
  };
};

/** The node's view: the stake confirmed, each lookup answered after a turn of the event loop. */
const chain: ChainView = {
  async getTransaction() {
    await new Promise((r) => setImmediate(r));
    return { hex: stake.stakingTxHex, blockhash: '22'.repeat(32), confirmations: 10 };
  },
  async getBlockHeight() {
    await new Promise((r) => setImmediate(r));
    return 10;
  },
};

async function signer(): Promise<CovenantSigner> {
  const signed = new Map<string, SignedRecord>();
  const s = new CovenantSigner({ params: () => stake.params, chain, custody: custody(), audit, signed });
  await s.refreshKeys();
  return s;
}

const body = (covenant: number) => ({
  staking_output_pk_script_hex: stake.stakingPkScriptHex,
  unbonding_tx_hex: stake.request.unbondingTxHex,
  staker_unbonding_sig_hex: stake.request.stakerSignatureHex,
  covenant_public_key: stake.covenants[covenant]!.compressedHex,
});

const records = () =>
  readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('audit batches across concurrent decisions', () => {
  it('writes the records of decisions under way together: one MAC call for them and the anchor', async () => {
    const s = await signer();
    const before = auditCustody.macCalls;
    const outs = await Promise.all([s.sign(body(0), 'unit', 'c0'), s.sign(body(1), 'unit', 'c1')]);
    expect(outs.map((o) => o.outcome)).toEqual(['signed', 'signed']);
    expect(auditCustody.macCalls - before).toBe(1);
    expect(records().map((r) => r.correlation_id)).toEqual(['c0', 'c1']);
  });

  it('does not hold a batch for a decision that waits for that batch (the same output and key)', async () => {
    const s = await signer();
    const [first, second] = await Promise.all([s.sign(body(0), 'unit', 'c0'), s.sign(body(0), 'unit', 'c1')]);
    expect(first.outcome).toBe('signed');
    expect(second).toMatchObject({ outcome: 'repeated', signatureHex: first.signatureHex });
    expect(records().map((r) => r.outcome)).toEqual(['signed', 'repeated']);
  });
});
