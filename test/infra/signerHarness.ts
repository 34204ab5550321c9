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
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  type SignUnbondingRequestBody,
  type StakingTxData,
  scriptPathSighash,
  type UnbondingExpectation,
  unbondingSighash,
} from '../../staking/index.ts';
import { type TestKey, testKey, testParamsDoc } from '../keys.ts';
import { MtlsClient } from './mtlsClient.ts';
import { makeTestPki, type TestPki } from './pki.ts';

/** A stake on the regtest chain, and everything needed to ask for its unbonding signatures. */
export interface Stake {
  readonly tx: Transaction;
  readonly txid: string;
  readonly height: number;
  readonly data: StakingTxData;
  readonly exp: UnbondingExpectation;
  readonly unbondingTx: Transaction;
  readonly stakerSig: Uint8Array;
  /** The reference request body for `covenantKey` (default: the first signer's key). */
  body(covenantKey?: XOnlyKey): SignUnbondingRequestBody;
}

/** One covenant-committee member: a running signer with real custody, or a bare test key. */
export interface CommitteeMember {
  readonly key: XOnlyKey;
  readonly compressedHex: string;
  readonly custody?: CustodyBackend;
  signer?: RunningSigner;
  readonly config?: SignerConfig;
  readonly testKey?: TestKey;
}

export interface Committee {
  readonly node: RegtestNode;
  readonly wallet: RpcClient;
  readonly minerAddress: string;
  readonly pki: TestPki;
  readonly dir: string;
  readonly params: GlobalParams;
  readonly paramsFile: string;
  readonly staker: TestKey;
  /** Signers first (in the order of `custodies`), then the test-key members. */
  readonly members: readonly CommitteeMember[];
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
  /** Mines until the stake's timelock allows, withdraws it through the timelock leaf, and mines that. */
  withdrawByTimelock(stake: Stake): Promise<string>;
  /** Stops and starts member `i`'s signer again with the same config, custody and audit log. */
  restartSigner(i: number): Promise<void>;
  stop(): Promise<void>;
}

const logger = pino({ level: process.env.SIGNER_TEST_LOG ?? 'fatal' });

/**
 * Starts a real Knots regtest node, a funded wallet, a throw-away PKI (server certificate for
 * 127.0.0.1, client certificates `pipeline` and `unlisted`), a params file whose covenant set is
 * the custodies' keys plus `testMembers` test keys (depth 2), and one real signer per custody on
 * loopback with mutual TLS, each with its own ports and audit log. Stops everything by pid and
 * removes its files.
 */
export async function startCommittee(opts: {
  readonly custodies: readonly CustodyBackend[];
  readonly testMembers?: number;
  readonly quorum: number;
  readonly paramsOverride?: Record<string, unknown>;
  readonly serverOverride?: Record<string, unknown>;
  /** More SIGNER__… variables for every signer (e.g. the [phase2] section). */
  readonly signerEnv?: Record<string, string>;
  /**
   * Runs once the node and the funded wallet are up, before any signer starts, for config that
   * depends on the chain (a phase-2 params file naming the tip's height or a wallet address);
   * returns more SIGNER__… variables for every signer. `dir` is removed with the committee.
   */
  readonly beforeSigners?: (chain: {
    readonly node: RegtestNode;
    readonly wallet: RpcClient;
    readonly minerAddress: string;
    readonly dir: string;
  }) => Promise<Record<string, string>>;
}): Promise<Committee> {
  const dir = mkdtempSync(join(tmpdir(), 'committee-'));
  const node = await startRegtestNode();
  const members: CommitteeMember[] = [];
  try {
    const { rpc: wallet, address: minerAddress } = await fundedWallet(node, 'funder');
    for (const custody of opts.custodies) {
      const [key] = await custody.publicKeys();
      if (!key) throw new Error(`custody ${custody.kind} holds no key`);
      members.push({ key, compressedHex: `02${toHex(key)}`, custody });
    }
    for (let i = 0; i < (opts.testMembers ?? 0); i++) {
      const k = testKey(`committee-member-${i}`);
      members.push({ key: k.xOnly, compressedHex: k.compressedHex, testKey: k });
    }
    const staker = testKey('harness-staker');
    const fp = testKey('harness-fp');
    const paramsDoc = testParamsDoc(members, {
      activation_height: 1,
      staking_cap: 100_000_000_000,
      covenant_quorum: opts.quorum,
      max_staking_amount: 10_000_000_000,
      ...opts.paramsOverride,
    });
    const paramsFile = join(dir, 'global-params.json');
    writeFileSync(paramsFile, JSON.stringify(paramsDoc));
    const params = parseGlobalParams(paramsDoc);
    const pki = makeTestPki(join(dir, 'pki'), ['pipeline', 'unlisted']);
    const chainEnv = (await opts.beforeSigners?.({ node, wallet, minerAddress, dir })) ?? {};
    for (const [i, m] of members.entries()) {
      if (!m.custody) continue;
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
        SIGNER__OPS__PORT: '0',
        SIGNER__PARAMS__FILE: paramsFile,
        SIGNER__BITCOIND__URL: node.rpcUrl,
        SIGNER__BITCOIND__COOKIE_FILE: node.cookieFile,
        SIGNER__BITCOIND__NETWORK: 'regtest',
        SIGNER__AUDIT__FILE: join(dir, `audit-${i}.jsonl`),
        SIGNER__LOG__LEVEL: process.env.SIGNER_TEST_LOG ?? 'fatal',
        SIGNER__CUSTODY: JSON.stringify({ backend: m.custody.kind }),
        ...opts.signerEnv,
        ...chainEnv,
      });
      (m as { config: SignerConfig }).config = config;
      m.signer = await startSigner(config, { custody: m.custody, logger });
    }
    const v0: ParamsVersion = params.versions[0]!;
    const firstKey = members[0]!.key;
    const c: Committee = {
      node,
      wallet,
      minerAddress,
      pki,
      dir,
      params,
      paramsFile,
      staker,
      members,
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
        const height = confirm > 0 ? await c.mine(1) : 0;
        if (confirm > 1) await c.mine(confirm - 1);
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
          body: (key = firstKey) => ({
            staking_output_pk_script_hex: toHex(data.stakingInfo.pkScript),
            unbonding_tx_hex: unbondingTx.toHex(),
            staker_unbonding_sig_hex: toHex(stakerSig),
            covenant_public_key: `02${toHex(key)}`,
          }),
        };
      },
      async withdrawByTimelock(s) {
        const T = s.data.stakingTime;
        while ((await node.rpc.getblockcount()) < s.height + T - 1) await c.mine();
        const wd = buildTimelockWithdrawTx({
          prevTxid: s.txid,
          prevVout: s.data.stakingOutputIndex,
          timelockBlocks: T,
          prevValueSat: s.data.valueSat,
          feeSat: 1_000n,
          outputScript: s.data.stakingInfo.pkScript,
        });
        const pre = { pkScripts: [s.data.stakingInfo.pkScript], valuesSat: [s.data.valueSat] };
        wd.ins[0]!.witness = buildTimelockWitness(
          staker.sign(scriptPathSighash(wd, 0, pre, s.data.stakingInfo.timelock)),
          s.data.stakingInfo.timelock,
        );
        const txid = await node.rpc.sendrawtransaction(wd.toHex());
        await c.mine();
        return txid;
      },
      async restartSigner(i) {
        const m = members[i]!;
        await m.signer?.stop();
        m.signer = await startSigner(m.config!, { custody: m.custody!, logger });
      },
      async stop() {
        for (const m of members) await m.signer?.stop().catch(() => undefined);
        await node.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return c;
  } catch (e) {
    for (const m of members) await m.signer?.stop().catch(() => undefined);
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** One real signer in a 2-of-3 committee whose other two members are test keys. */
export interface SignerHarness extends Committee {
  readonly config: SignerConfig;
  readonly signerKey: XOnlyKey;
  /** The other covenant members (test keys) of the 2-of-3 committee. */
  readonly others: readonly TestKey[];
  readonly signer: RunningSigner;
  /** A client presenting the allowed certificate `pipeline`. */
  readonly client: MtlsClient;
  restart(): Promise<void>;
}

export async function startSignerHarness(
  custody: CustodyBackend,
  opts: {
    readonly paramsOverride?: Record<string, unknown>;
    readonly serverOverride?: Record<string, unknown>;
    readonly signerEnv?: Record<string, string>;
  } = {},
): Promise<SignerHarness> {
  const c = await startCommittee({ custodies: [custody], testMembers: 2, quorum: 2, ...opts });
  const me = c.members[0]!;
  const clientFor = () =>
    new MtlsClient(me.signer!.url, { caFile: c.pki.ca.cert, identity: c.pki.clients.pipeline! });
  let client = clientFor();
  const h = {
    ...c,
    config: me.config!,
    signerKey: me.key,
    others: c.members.slice(1).map((m) => m.testKey!),
    async restart() {
      await c.restartSigner(0);
      client.close();
      client = clientFor();
    },
    async stop() {
      client.close();
      await c.stop();
    },
  };
  // Live views: a restart replaces the signer and the client.
  Object.defineProperty(h, 'signer', { get: () => me.signer!, enumerable: true });
  Object.defineProperty(h, 'client', { get: () => client, enumerable: true });
  return h as unknown as SignerHarness;
}
