import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RpcClient } from '../bitcoind/index.ts';
import { CodedError } from '../common/index.ts';
import { type CustodyBackend, schnorrSign } from '../hsm/index.ts';
import type { SignUnbondingRequestBody } from '../staking/index.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { chainOf, type OfflineStake, offlineStake, scriptedNode } from '../test/infra/scriptedPeers.ts';
import { testKey } from '../test/keys.ts';
import { AuditLog } from './audit.ts';
import { type ChainView, rpcChainView } from './chain.ts';
import { CovenantSigner, type SignedRecord } from './service.ts';

/*
 * The decision core's refusals that depend on what it stands on rather than on the request: its
 * node (down, failing mid-request, placing the stake below every params version) and its custody
 * (failing, or returning a signature that does not verify). The node is a stand-in at the
 * ChainView boundary or a scripted JSON-RPC server behind the real rpcChainView; custody is a
 * stand-in at the CustodyBackend boundary. Every refusal must reach the audit log with its code.
 */
let dir: string;
let audit: AuditLog;
let stake: OfflineStake;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-deps-'));
  audit = await AuditLog.open(join(dir, 'audit.jsonl'), new MemoryAuditCustody());
  stake = offlineStake('signer-deps');
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await audit.close();
  rmSync(dir, { recursive: true, force: true });
});

const me = () => stake.covenants[0]!;

/** A custody holding covenant 0's key; `sign` is the scenario. */
const custodyThat = (sign: CustodyBackend['sign']): CustodyBackend => ({
  kind: 'file',
  async publicKeys() {
    return [me().xOnly];
  },
  sign,
  audit: new MemoryAuditCustody(),
  async health() {
    return { ok: true, detail: 'unit' };
  },
  async close() {},
});
const honestCustody = () => custodyThat(async (req) => schnorrSign(req.sighash, me().privateKey));

/** The node's view of the stake: in a block at `height`, 10 confirmations. */
const chainAt = (height: number): ChainView => ({
  async getTransaction() {
    return { hex: stake.stakingTxHex, blockhash: '22'.repeat(32), confirmations: 10 };
  },
  async getBlockHeight() {
    return height;
  },
});

async function signerWith(chain: ChainView, custody: CustodyBackend): Promise<CovenantSigner> {
  const signed = new Map<string, SignedRecord>();
  const s = new CovenantSigner({ params: () => stake.params, chain, custody, audit, signed });
  await s.refreshKeys();
  return s;
}

const body = () => ({
  staking_output_pk_script_hex: stake.stakingPkScriptHex,
  unbonding_tx_hex: stake.request.unbondingTxHex,
  staker_unbonding_sig_hex: stake.request.stakerSignatureHex,
  covenant_public_key: me().compressedHex,
});

async function refusal(s: CovenantSigner, request: SignUnbondingRequestBody = body()): Promise<CodedError> {
  const e = await s.sign(request, 'unit', 'corr-1').then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CodedError);
  return e as CodedError;
}

/** The last audit record, as written to the file (an append is durable before sign() settles). */
const lastRecord = (): Record<string, unknown> => {
  const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
};

/** The signer's RPC client for a scripted node. */
const clientOf = (n: { readonly url: string }) =>
  new RpcClient({ url: n.url, user: 'u', password: 'p', timeoutMs: 2_000 });

describe('the signer against a failing node', () => {
  it('signs with the honest stand-ins: the refusals below are caused by the one thing each changes', async () => {
    const s = await signerWith(chainAt(10), honestCustody());
    const out = await s.sign(body(), 'unit', 'corr-0');
    expect(out.outcome).toBe('signed');
  });

  it('SIGNER_NO_PARAMS_FOR_HEIGHT: the stake is in a block below the first version’s activation height', async () => {
    // The params activate at height 1; the node places the stake in the genesis block.
    const e = await refusal(await signerWith(chainAt(0), honestCustody()));
    expect(e.code).toBe('SIGNER_NO_PARAMS_FOR_HEIGHT');
    expect(lastRecord()).toMatchObject({ outcome: 'refused', code: 'SIGNER_NO_PARAMS_FOR_HEIGHT' });
  });

  it('SIGNER_DEPENDENCY_UNAVAILABLE: the node answers the staking tx, then fails the block lookup', async () => {
    const n = await scriptedNode({ ...chainOf(stake), getblockheader: () => ({ status: 503 }) });
    cleanups.push(n.close);
    const rpc = clientOf(n);
    const e = await refusal(await signerWith(rpcChainView(rpc), honestCustody()));
    expect(e.code).toBe('SIGNER_DEPENDENCY_UNAVAILABLE');
    expect(n.calls).toEqual(['getrawtransaction', 'getblockheader']);
    expect(lastRecord()).toMatchObject({ outcome: 'refused', code: 'SIGNER_DEPENDENCY_UNAVAILABLE' });
  });

  it('SIGNER_DEPENDENCY_UNAVAILABLE: the staking tx given in the request, and the node fails its gettxout', async () => {
    const n = await scriptedNode({ ...chainOf(stake), gettxout: () => ({ status: 503 }) });
    cleanups.push(n.close);
    const rpc = clientOf(n);
    const e = await refusal(await signerWith(rpcChainView(rpc), honestCustody()), {
      ...body(),
      staking_tx_hex: stake.stakingTxHex,
    });
    expect(e.code).toBe('SIGNER_DEPENDENCY_UNAVAILABLE');
    expect(n.calls).toEqual(['gettxout']);
    expect(lastRecord()).toMatchObject({ outcome: 'refused', code: 'SIGNER_DEPENDENCY_UNAVAILABLE' });
  });

  it('the staking tx given in the request: its gettxout is asked while the staker signature is checked, and a bad signature is still the refusal when the node fails that call', async () => {
    const n = await scriptedNode({ ...chainOf(stake), gettxout: () => ({ status: 503 }) });
    cleanups.push(n.close);
    const s = await signerWith(rpcChainView(clientOf(n)), honestCustody());
    const sig = stake.request.stakerSignatureHex;
    const forged = `${sig.slice(0, -2)}${sig.endsWith('00') ? '01' : '00'}`;
    const e = await refusal(s, {
      ...body(),
      staker_unbonding_sig_hex: forged,
      staking_tx_hex: stake.stakingTxHex,
    });
    expect(e.code).toBe('SIGNER_INVALID_STAKER_SIGNATURE');
    // Asked before the signature was found bad (the node answers while the signer verifies), never
    // read. The request is on the wire before the refusal, but this process's scripted node may
    // take it in only after the refusal settled (seen in CI under load): wait for its arrival.
    await vi.waitFor(() => expect(n.calls).toEqual(['gettxout']));
    expect(lastRecord()).toMatchObject({ outcome: 'refused', code: 'SIGNER_INVALID_STAKER_SIGNATURE' });
  });

  it('the staking tx given in the request, its output not in the UTXO set (spent) or the answer malformed: decided from the tx itself, as the reference does', async () => {
    for (const answer of [null, { value: 0.002, confirmations: 10 }]) {
      const n = await scriptedNode({ ...chainOf(stake), gettxout: () => ({ result: answer }) });
      cleanups.push(n.close);
      const rpc = clientOf(n);
      const s = await signerWith(rpcChainView(rpc), honestCustody());
      const out = await s.sign({ ...body(), staking_tx_hex: stake.stakingTxHex }, 'unit', 'corr-3');
      expect(out.outcome).toBe('signed');
      expect(n.calls).toEqual(['gettxout', 'getrawtransaction', 'getblockheader']);
    }
  });

  it('SIGNER_DEPENDENCY_UNAVAILABLE: the node does not answer at all', async () => {
    const n = await scriptedNode({ getrawtransaction: () => ({ status: 500 }) });
    cleanups.push(n.close);
    const rpc = clientOf(n);
    const e = await refusal(await signerWith(rpcChainView(rpc), honestCustody()));
    expect(e.code).toBe('SIGNER_DEPENDENCY_UNAVAILABLE');
  });
});

describe('the signer against a failing custody', () => {
  it('SIGNER_CUSTODY_UNAVAILABLE: custody throws while signing (not because it is locked)', async () => {
    const custody = custodyThat(async () => {
      throw new CodedError('HSM_PKCS11_ERROR', 'signing failed (CKR_DEVICE_REMOVED)');
    });
    const e = await refusal(await signerWith(chainAt(10), custody));
    expect(e.code).toBe('SIGNER_CUSTODY_UNAVAILABLE');
    expect(lastRecord()).toMatchObject({ outcome: 'refused', code: 'SIGNER_CUSTODY_UNAVAILABLE' });
  });

  it('SIGNER_INTERNAL: custody returns a signature that does not verify under the key; nothing leaves', async () => {
    const other = testKey('signer-deps-not-the-covenant-key');
    const custody = custodyThat(async (req) => schnorrSign(req.sighash, other.privateKey));
    const s = await signerWith(chainAt(10), custody);
    const e = await refusal(s);
    expect(e.code).toBe('SIGNER_INTERNAL');
    // Recorded without detail, and without the signature custody returned.
    const record = lastRecord();
    expect(record).toMatchObject({ outcome: 'refused', code: 'SIGNER_INTERNAL', reason: 'internal error' });
    expect(record.signature).toBeUndefined();
  });
});
