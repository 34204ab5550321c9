import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodedError, toHex } from '../common/index.ts';
import { adaptorSignAll, type CustodyBackend, schnorrSign } from '../hsm/index.ts';
import { parsePhase2ParamsVersions } from '../params/index.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { buildPhase2Delegation, phase2ParamsDoc } from '../test/infra/phase2Delegation.ts';
import { testKey } from '../test/keys.ts';
import { AuditLog } from './audit.ts';
import type { ChainView } from './chain.ts';
import { Phase2Signer } from './phase2.ts';

/*
 * The phase-2 decision core's refusals when custody fails it, as dependencyFailures.test.ts shows
 * for phase 1: custody throwing while signing (SIGNER_CUSTODY_UNAVAILABLE) and custody returning
 * pre-signatures that do not verify (SIGNER_INTERNAL). Custody is a stand-in at its boundary that
 * signs through hsm/'s own helpers, with the covenant key or, for the second case, another key.
 */
const me = testKey('p2-custody-failures');
const stranger = testKey('p2-custody-failures-not-the-key');
const params = parsePhase2ParamsVersions(
  phase2ParamsDoc([me.xOnly, testKey('p2cf-m0').xOnly, testKey('p2cf-m1').xOnly], {
    btc_activation_height: 100,
  }),
);
/** Not in a block: the version is the tip's, as for a delegation registered before inclusion. */
const chain: ChainView = {
  async getTransaction() {
    throw new CodedError('SIGNER_STAKING_TX_NOT_FOUND', 'not found');
  },
  async getBlockHeight() {
    return 0;
  },
};

let dir: string;
let audit: AuditLog;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2-custody-failures-'));
  audit = await AuditLog.open(join(dir, 'audit.jsonl'), new MemoryAuditCustody());
});
afterEach(async () => {
  await audit.close();
  rmSync(dir, { recursive: true, force: true });
});

function signerWith(adaptorKey: Uint8Array, failAdaptor = false): Phase2Signer {
  const custody = {
    kind: 'file',
    async publicKeys() {
      return [me.xOnly];
    },
    async sign(req) {
      return schnorrSign(req.sighash, me.privateKey);
    },
    async adaptorSign(req) {
      if (failAdaptor) throw new CodedError('HSM_PKCS11_ERROR', 'signing failed (CKR_DEVICE_REMOVED)');
      return adaptorSignAll(req, adaptorKey);
    },
    audit: new MemoryAuditCustody(),
    async health() {
      return { ok: true, detail: 'unit' };
    },
    async close() {},
  } satisfies CustodyBackend;
  return new Phase2Signer({
    params: () => params,
    chain,
    tipHeight: async () => 150,
    custody,
    audit,
    heldKeys: () => new Set([toHex(me.xOnly)]),
    phase1: new Map(),
    signed: new Map(),
    expansions: new Map(),
    exclusive: (_slot, fn) => fn(),
  });
}

const lastRecord = () =>
  JSON.parse(readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').at(-1)!) as Record<
    string,
    unknown
  >;
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => (e as CodedError).code,
  );

describe('Phase2Signer with a failing custody', () => {
  it('signs with the honest stand-in (the cases below change one thing)', async () => {
    const d = await buildPhase2Delegation(params.versions[0]!);
    expect((await signerWith(me.privateKey).sign(d.body, 'c', 'id-0')).outcome).toBe('signed');
  });

  it('SIGNER_CUSTODY_UNAVAILABLE: custody throws while making the pre-signatures', async () => {
    const d = await buildPhase2Delegation(params.versions[0]!);
    expect(await codeOf(signerWith(me.privateKey, true).sign(d.body, 'c', 'id-1'))).toBe(
      'SIGNER_CUSTODY_UNAVAILABLE',
    );
    expect(lastRecord()).toMatchObject({
      kind: 'phase2',
      outcome: 'refused',
      code: 'SIGNER_CUSTODY_UNAVAILABLE',
    });
  });

  it('SIGNER_INTERNAL: pre-signatures under another key never leave, and the refusal has no detail', async () => {
    const d = await buildPhase2Delegation(params.versions[0]!);
    expect(await codeOf(signerWith(stranger.privateKey).sign(d.body, 'c', 'id-2'))).toBe('SIGNER_INTERNAL');
    const record = lastRecord();
    expect(record).toMatchObject({
      kind: 'phase2',
      outcome: 'refused',
      code: 'SIGNER_INTERNAL',
      reason: 'internal error',
    });
    expect(record.response).toBeUndefined();
  });
});
