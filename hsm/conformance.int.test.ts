import { join } from 'node:path';
import * as ecc from 'tiny-secp256k1';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fundedWallet, type RegtestNode, type RpcClient, startRegtestNode } from '../bitcoind/index.ts';
import { toHex, type XOnlyKey } from '../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import {
  buildStakingOutputs,
  buildUnbondingTx,
  buildUnbondingWitness,
  buildUnfundedStakingTx,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  unbondingSighash,
} from '../staking/index.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  type CustodyBackend,
  type CustodyConfig,
  type CustodyKind,
  generateKey,
  initToken,
  openCustody,
  parseCustodyConfig,
} from './index.ts';
import { unbondingRequestFor } from './testRequests.ts';

/**
 * One conformance suite, run against every custody backend (tmkms runs the same flows for each key
 * type): a covenant key made inside the backend is listed, signs what the signer asks, refuses what
 * it does not hold, is healthy, and its signature completes an unbonding a real node accepts and mines.
 */
let node: RegtestNode;
let miner: RpcClient;
let minerAddress: string;
let hsm: SoftHsmDir;
const logger = { warn: vi.fn(), info: vi.fn() };

beforeAll(async () => {
  hsm = await createSoftHsmDir();
  node = await startRegtestNode();
  ({ rpc: miner, address: minerAddress } = await fundedWallet(node, 'miner'));
});
afterAll(async () => {
  await node?.stop();
  await hsm?.cleanup();
});

/** Makes a covenant key inside each backend and returns the config that opens it. */
const setups: Record<CustodyKind, () => Promise<CustodyConfig>> = {
  async pkcs11() {
    const config = parseCustodyConfig({
      backend: 'pkcs11',
      pkcs11: { token_label: 'conformance', pin_file: await hsm.secretFile('pin', '4321') },
    });
    await initToken(config, { soPin: { file: await hsm.secretFile('so.pin', 'so-4321') } });
    await generateKey(config, { logger });
    return config;
  },
  async 'bitcoind-wallet'() {
    await node.rpc.createwallet('covenant');
    const raw = { url: node.rpcUrl, wallet: 'covenant', cookie_file: node.cookieFile };
    const info = await generateKey(parseCustodyConfig({ backend: 'bitcoind-wallet', bitcoind_wallet: raw }), {
      logger,
    });
    return parseCustodyConfig({ backend: 'bitcoind-wallet', bitcoind_wallet: { ...raw, key: info.xOnly } });
  },
  async file() {
    process.env.CONFORMANCE_FILE_PASS = 'conformance file passphrase';
    const config = parseCustodyConfig({
      backend: 'file',
      file: {
        path: join(hsm.dir, 'dev.key'),
        passphrase_env: 'CONFORMANCE_FILE_PASS',
        allow_insecure_file_backend: true,
      },
    });
    await generateKey(config, { logger });
    return config;
  },
};

describe.each(Object.keys(setups) as CustodyKind[])('custody backend %s', (kind) => {
  let config: CustodyConfig;
  let custody: CustodyBackend;
  let key: XOnlyKey;
  beforeAll(async () => {
    config = await setups[kind]();
    custody = await openCustody(config, { logger });
    [key] = (await custody.publicKeys()) as [XOnlyKey];
  });
  afterAll(async () => {
    await custody?.close();
  });

  it('names its kind and lists exactly the covenant key made inside it', async () => {
    expect(custody.kind).toBe(kind);
    const keys = await custody.publicKeys();
    expect(keys).toHaveLength(1);
    expect(ecc.isXOnlyPoint(keys[0]!)).toBe(true);
  });

  it('signs an unbonding request: 64 bytes that verify against the sighash under the key', async () => {
    const req = unbondingRequestFor(key);
    const sig = await custody.sign(req);
    expect(sig).toHaveLength(64);
    expect(ecc.verifySchnorr(req.sighash, key, sig)).toBe(true);
  });

  it('refuses to sign for a key it does not hold (HSM_KEY_NOT_HELD)', async () => {
    await expect(custody.sign(unbondingRequestFor(testKey('not-held').xOnly))).rejects.toMatchObject({
      code: 'HSM_KEY_NOT_HELD',
    });
  });

  it('refuses a sighash that is not 32 bytes (HSM_BAD_REQUEST)', async () => {
    const req = unbondingRequestFor(key);
    await expect(custody.sign({ ...req, sighash: req.sighash.subarray(1) })).rejects.toMatchObject({
      code: 'HSM_BAD_REQUEST',
    });
  });

  it('is healthy', async () => {
    const h = await custody.health();
    expect(h).toMatchObject({ ok: true });
    expect(h.detail).toContain(toHex(key));
  });

  it('completes a 2-of-3 unbonding (staker + this backend + one test covenant) that the node accepts and mines', async () => {
    const other = testKey(`conformance-cov-${kind}`);
    const third = testKey('conformance-cov-3');
    const staker = testKey('conformance-staker');
    const fp = testKey('conformance-fp');
    const params: GlobalParams = parseGlobalParams(
      testParamsDoc([other, third], {
        activation_height: 1,
        covenant_pks: [`02${toHex(key)}`, other.compressedHex, third.compressedHex],
        covenant_quorum: 2,
      }),
    );
    const v = params.versions[0]!;
    const outs = buildStakingOutputs({
      params: v,
      stakerKey: staker.xOnly,
      fpKey: fp.xOnly,
      stakingTime: 100,
      valueSat: 150_000n,
    });
    const funded = await miner.fundrawtransaction(buildUnfundedStakingTx(outs).toHex());
    const signed = await miner.signrawtransactionwithwallet(funded.hex);
    const stakingTxid = await node.rpc.sendrawtransaction(signed.hex);
    await node.rpc.generatetoaddress(1, minerAddress);
    const stakingTx = parseTransaction(await node.rpc.getrawtransaction(stakingTxid, false));
    const data = parseStakingTx(stakingTx, v);

    const exp = expectUnbonding(stakingTxid, data, v);
    const tx = buildUnbondingTx(exp);
    const sighash = unbondingSighash(tx, exp);
    const covenantSig = await custody.sign({
      key,
      sighash,
      unbondingTx: tx,
      stakingOutput: { script: data.stakingInfo.pkScript, valueSat: data.valueSat },
      leaf: data.stakingInfo.unbonding,
    });
    tx.ins[0]!.witness = buildUnbondingWitness({
      covenantKeys: v.covenantKeys,
      quorum: v.covenantQuorum,
      covenantSignatures: [
        { key, signature: covenantSig },
        { key: other.xOnly, signature: other.sign(sighash) },
      ],
      stakerSignature: staker.sign(sighash),
      leaf: data.stakingInfo.unbonding,
    });

    const [verdict] = await node.rpc.testmempoolaccept([tx.toHex()]);
    expect({ allowed: verdict?.allowed, reason: verdict?.['reject-reason'] }).toEqual({
      allowed: true,
      reason: undefined,
    });
    await node.rpc.sendrawtransaction(tx.toHex());
    await node.rpc.generatetoaddress(1, minerAddress);
    expect((await node.rpc.getrawtransaction(tx.getId(), true)).confirmations).toBe(1);
  });

  it('closes idempotently, and a closed backend refuses (HSM_CLOSED) and is not healthy', async () => {
    const again = await openCustody(config, { logger });
    await again.close();
    await again.close();
    await expect(again.publicKeys()).rejects.toMatchObject({ code: 'HSM_CLOSED' });
    expect((await again.health()).ok).toBe(false);
  });
});
