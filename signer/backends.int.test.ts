import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import {
  type CustodyBackend,
  type CustodyConfig,
  generateKey,
  initToken,
  openCustody,
  parseCustodyConfig,
} from '../hsm/index.ts';
import { buildUnbondingWitness, parseTransaction, unbondingSighash } from '../staking/index.ts';
import { type SignerHarness, startSignerHarness } from '../test/infra/signerHarness.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';

/**
 * The signer's happy path with each production custody backend (the file backend runs through
 * signer.int.test.ts): the covenant key is made inside the backend by the key ceremony, the signer
 * signs over mutual TLS, and a real node accepts and mines the fully signed unbonding tx.
 */
const logger = pino({ level: 'fatal' });
let hsm: SoftHsmDir;
let walletNode: RegtestNode;

beforeAll(async () => {
  hsm = await createSoftHsmDir();
  // The offline wallet node of the bitcoind-wallet backend: a node of its own, as in production.
  walletNode = await startRegtestNode();
});
afterAll(async () => {
  await walletNode?.stop();
  await hsm?.cleanup();
});

const setups: Record<'pkcs11' | 'bitcoind-wallet', () => Promise<CustodyConfig>> = {
  async pkcs11() {
    const config = parseCustodyConfig({
      backend: 'pkcs11',
      pkcs11: { token_label: 'signer-happy', pin_file: await hsm.secretFile('pin', '246810') },
    });
    await initToken(config, { soPin: { file: await hsm.secretFile('so.pin', 'so-246810') } });
    await generateKey(config, { logger });
    return config;
  },
  async 'bitcoind-wallet'() {
    await walletNode.rpc.createwallet('covenant');
    const raw = { url: walletNode.rpcUrl, wallet: 'covenant', cookie_file: walletNode.cookieFile };
    const info = await generateKey(parseCustodyConfig({ backend: 'bitcoind-wallet', bitcoind_wallet: raw }), {
      logger,
    });
    // The node cannot MAC: the signer's audit key is a file (created at first open).
    const audit_key_file = join(hsm.dir, 'wallet-audit.key');
    return parseCustodyConfig({
      backend: 'bitcoind-wallet',
      bitcoind_wallet: { ...raw, key: info.xOnly, audit_key_file },
    });
  },
};

describe.each(Object.keys(setups) as Array<keyof typeof setups>)('signer with the %s backend', (kind) => {
  let custody: CustodyBackend;
  let h: SignerHarness;
  beforeAll(async () => {
    custody = await openCustody(await setups[kind](), { logger });
    h = await startSignerHarness(custody);
  });
  afterAll(async () => {
    await h?.stop();
    await custody?.close();
  });

  it('signs over mutual TLS, and the node accepts and mines the fully signed unbonding tx', async () => {
    const stake = await h.stake(250_000n);
    const r = await h.client.call('POST', '/v1/sign-unbonding-tx', stake.body());
    expect(r.status).toBe(200);
    const signature = Buffer.from((r.json as { data: { signature_hex: string } }).data.signature_hex, 'hex');
    const tx = parseTransaction(stake.unbondingTx.toHex());
    const sighash = unbondingSighash(tx, stake.exp);
    tx.ins[0]!.witness = buildUnbondingWitness({
      covenantKeys: h.params.versions[0]!.covenantKeys,
      quorum: 2,
      covenantSignatures: [
        { key: h.signerKey, signature },
        { key: h.others[1]!.xOnly, signature: h.others[1]!.sign(sighash) },
      ],
      stakerSignature: stake.stakerSig,
      leaf: stake.data.stakingInfo.unbonding,
    });
    const [accept] = await h.node.rpc.testmempoolaccept([tx.toHex()]);
    expect(accept?.allowed).toBe(true);
    await h.node.rpc.sendrawtransaction(tx.toHex());
    await h.mine();
    expect((await h.node.rpc.getrawtransaction(tx.getId(), true)).confirmations).toBe(1);
    const metrics = await (await fetch(`${h.signer.metricsUrl}/metrics`)).text();
    expect(metrics).toContain(`custody="${kind}"`);
  });
});
