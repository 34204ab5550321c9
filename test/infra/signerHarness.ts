import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transaction } from 'bitcoinjs-lib';
import { pino } from 'pino';
import { fundedWallet, type RegtestNode, type RpcClient, startRegtestNode } from '../../bitcoind/index.ts';
import { toHex, type XOnlyKey } from '../../common/index.ts';
import type { CustodyBackend } from '../../hsm/index.ts';
import { type GlobalParams, type ParamsVersion, parseGlobalParams } from '../../params/index.ts';
import { type RunningSigner, startSigner } from '../../signer/app.ts';
import { loadSignerConfig, type SignerConfig } from '../../signer/config.ts';
import {
  buildStakingOutputs,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  type StakingTxData,
  type UnbondingExpectation,
  unbondingSighash,
} from '../../staking/index.ts';
import { type TestKey, testKey } from '../keys.ts';
import { MtlsClient } from './mtlsClient.ts';
import { makeTestPki, type TestPki } from './pki.ts';

/** A stake on the regtest chain, and everything needed to ask for its unbonding signature. */
export interface Stake {
  readonly tx: Transaction;
  readonly txid: string;
  readonly height: number;
  readonly data: StakingTxData;
  readonly exp: UnbondingExpectation;
  readonly unbondingTx: Transaction;
  readonly stakerSig: Uint8Array;
  /** The reference request body for `covenantKey`. */
  body(covenantKey?: XOnlyKey): Record<string, string>;
}

export interface SignerHarness {
  readonly node: RegtestNode;
  readonly wallet: RpcClient;
  readonly pki: TestPki;
  readonly dir: string;
  readonly params: GlobalParams;
  readonly paramsFile: string;
  readonly config: SignerConfig;
  readonly signerKey: XOnlyKey;
  /** The other covenant members (test keys) of the 2-of-3 committee. */
  readonly others: readonly TestKey[];
  readonly staker: TestKey;
  signer: RunningSigner;
  /** A client presenting the allowed certificate `pipeline`. */
  readonly client: MtlsClient;
  mine(n?: number): Promise<number>;
  /**
   * Stakes with staking/ (funded by the wallet) and mines `confirm` blocks (default: the depth).
   * `unchecked` builds outputs even outside the params ranges, for negative tests.
   */
  stake(
    valueSat?: bigint,
    stakingTime?: number,
    opts?: { confirm?: number; unchecked?: boolean },
  ): Promise<Stake>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real Knots regtest node, a funded wallet, a throw-away PKI, a params file whose
 * covenant set is the custody's key plus two test keys (quorum 2, depth 2), and a real signer on
 * loopback with mutual TLS. Stops everything it started by pid and removes its files.
 */
export async function startSignerHarness(
  custody: CustodyBackend,
  opts: {
    readonly paramsOverride?: Record<string, unknown>;
    readonly serverOverride?: Record<string, unknown>;
  } = {},
): Promise<SignerHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'signer-harness-'));
  const node = await startRegtestNode();
  try {
    const { rpc: wallet, address: minerAddress } = await fundedWallet(node, 'funder');
    const [signerKey] = await custody.publicKeys();
    if (!signerKey) throw new Error('custody holds no key');
    const others = [testKey('harness-cov-1'), testKey('harness-cov-2')];
    const staker = testKey('harness-staker');
    const fp = testKey('harness-fp');
    const paramsDoc = {
      versions: [
        {
          version: 0,
          activation_height: 1,
          staking_cap: 100_000_000_000,
          tag: '01020304',
          covenant_pks: [`02${toHex(signerKey)}`, ...others.map((k) => k.compressedHex)],
          covenant_quorum: 2,
          unbonding_time: 3,
          unbonding_fee: 1_000,
          max_staking_amount: 10_000_000_000,
          min_staking_amount: 10_000,
          max_staking_time: 65_535,
          min_staking_time: 5,
          confirmation_depth: 2,
          ...opts.paramsOverride,
        },
      ],
    };
    const paramsFile = join(dir, 'global-params.json');
    writeFileSync(paramsFile, JSON.stringify(paramsDoc));
    const params = parseGlobalParams(paramsDoc);
    const pki = makeTestPki(join(dir, 'pki'), ['pipeline', 'unlisted']);
    const config = loadSignerConfig(undefined, {
      SIGNER__SERVER__PORT: '0',
      SIGNER__SERVER__TLS_CERT_FILE: pki.server.cert,
      SIGNER__SERVER__TLS_KEY_FILE: pki.server.key,
      SIGNER__SERVER__CLIENT_CA_FILE: pki.ca.cert,
      SIGNER__SERVER__CLIENTS: JSON.stringify([
        { name: 'pipeline', fingerprint_sha256: pki.clients.pipeline!.fingerprint256 },
      ]),
      ...Object.fromEntries(
        Object.entries(opts.serverOverride ?? {}).map(([k, v]) => [
          `SIGNER__SERVER__${k.toUpperCase()}`,
          String(v),
        ]),
      ),
      SIGNER__METRICS__PORT: '0',
      SIGNER__PARAMS__FILE: paramsFile,
      SIGNER__BITCOIND__URL: node.rpcUrl,
      SIGNER__BITCOIND__COOKIE_FILE: node.cookieFile,
      SIGNER__BITCOIND__NETWORK: 'regtest',
      SIGNER__AUDIT__FILE: join(dir, 'audit.jsonl'),
      SIGNER__LOG__LEVEL: process.env.SIGNER_TEST_LOG ?? 'fatal',
      SIGNER__CUSTODY: JSON.stringify({ backend: custody.kind }),
    });
    const logger = pino({ level: config.log.level });
    const v0: ParamsVersion = params.versions[0]!;
    const h: SignerHarness = {
      node,
      wallet,
      pki,
      dir,
      params,
      paramsFile,
      config,
      signerKey,
      others,
      staker,
      signer: await startSigner(config, { custody, logger }),
      client: undefined as unknown as MtlsClient,
      async mine(n = 1) {
        await node.rpc.generatetoaddress(n, minerAddress);
        return node.rpc.getblockcount();
      },
      async stake(valueSat = 100_000n, stakingTime = 100, o = {}) {
        const loose = {
          ...v0,
          minStakingAmountSat: 1n,
          maxStakingAmountSat: 10n ** 15n,
          minStakingTime: 1,
          maxStakingTime: 65_535,
        };
        const outs = buildStakingOutputs({
          params: o.unchecked ? loose : v0,
          stakerKey: staker.xOnly,
          fpKey: fp.xOnly,
          stakingTime,
          valueSat,
        });
        const funded = await wallet.fundrawtransaction(buildUnfundedStakingTx(outs).toHex());
        const signed = await wallet.signrawtransactionwithwallet(funded.hex);
        const txid = await node.rpc.sendrawtransaction(signed.hex);
        const confirm = o.confirm ?? v0.confirmationDepth;
        const height = confirm > 0 ? await h.mine(1) : 0;
        if (confirm > 1) await h.mine(confirm - 1);
        const tx = parseTransaction(signed.hex);
        const data = parseStakingTx(tx, v0);
        const exp = expectUnbonding(txid, data, v0);
        const unbondingTx = buildUnbondingTx(exp);
        const stakerSig = staker.sign(unbondingSighash(unbondingTx, exp));
        return {
          tx,
          txid,
          height,
          data,
          exp,
          unbondingTx,
          stakerSig,
          body: (key = signerKey) => ({
            staking_output_pk_script_hex: toHex(data.stakingInfo.pkScript),
            unbonding_tx_hex: unbondingTx.toHex(),
            staker_unbonding_sig_hex: toHex(stakerSig),
            covenant_public_key: `02${toHex(key)}`,
          }),
        };
      },
      async restart() {
        await h.signer.stop();
        h.signer = await startSigner(config, { custody, logger });
        (h as { client: MtlsClient }).client.close();
        (h as { client: MtlsClient }).client = new MtlsClient(h.signer.url, {
          caFile: pki.ca.cert,
          identity: pki.clients.pipeline!,
        });
      },
      async stop() {
        h.client?.close();
        await h.signer?.stop().catch(() => undefined);
        await node.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    (h as { client: MtlsClient }).client = new MtlsClient(h.signer.url, {
      caFile: pki.ca.cert,
      identity: pki.clients.pipeline!,
    });
    return h;
  } catch (e) {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
