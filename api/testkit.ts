/**
 * Test helpers for api/ (not a test file): valid staking transactions and unbonding requests built
 * offline with staking/, the events the indexer would emit for them, and an API configuration on a
 * scratch database. Keys are deterministic test keys (test/keys.ts).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transaction } from 'bitcoinjs-lib';
import { toHex } from '../common/index.ts';
import {
  type ActiveStakingEvent,
  type BtcInfoEvent,
  EVENT_TYPE_OF_KIND,
  type ExpiredStakingEvent,
  type UnbondingStakingEvent,
  type WithdrawStakingEvent,
} from '../events/index.ts';
import { type GlobalParams, type ParamsVersion, parseGlobalParams } from '../params/index.ts';
import {
  buildStakingOutputs,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  parseStakingTx,
  type UnbondingRequestBody,
  unbondingSighash,
} from '../staking/index.ts';
import { testTempDir } from '../test/infra/tempDirs.ts';
import { type TestKey, testKey, testParamsDoc } from '../test/keys.ts';
import { type ApiConfig, loadApiConfig } from './config.ts';

export const COVENANTS = [testKey('api-cov-1'), testKey('api-cov-2'), testKey('api-cov-3')];
export const PARAMS_DOC = testParamsDoc(COVENANTS, { activation_height: 100, unbonding_fee: 1_000 });
export const PARAMS: GlobalParams = parseGlobalParams(PARAMS_DOC);
export const V0: ParamsVersion = PARAMS.versions[0]!;

export interface TestStake {
  readonly txid: string;
  readonly hex: string;
  readonly staker: TestKey;
  readonly fp: TestKey;
  readonly valueSat: number;
  readonly stakingTime: number;
  /** A valid POST /v1/unbonding body for this stake. */
  unbondingBody(): UnbondingRequestBody;
}

/**
 * A valid phase-1 staking tx under V0 (unfunded but for one made-up input, so each label gives a
 * distinct txid), with what an unbonding request for it needs.
 */
export function makeStake(
  label: string,
  opts: { staker?: TestKey; fp?: TestKey; valueSat?: number; stakingTime?: number } = {},
): TestStake {
  const staker = opts.staker ?? testKey(`staker:${label}`);
  const fp = opts.fp ?? testKey('fp:default');
  const valueSat = opts.valueSat ?? 100_000;
  const stakingTime = opts.stakingTime ?? 1000;
  const outs = buildStakingOutputs({
    params: V0,
    stakerKey: staker.xOnly,
    fpKey: fp.xOnly,
    stakingTime,
    valueSat: BigInt(valueSat),
  });
  const tx = buildUnfundedStakingTx(outs);
  tx.addInput(createHash('sha256').update(`input:${label}`).digest(), 0, 0xfffffffd);
  const txid = tx.getId();
  const hex = tx.toHex();
  return {
    txid,
    hex,
    staker,
    fp,
    valueSat,
    stakingTime,
    unbondingBody() {
      const parsed = Transaction.fromHex(hex);
      const data = parseStakingTx(parsed, V0);
      const exp = expectUnbonding(txid, data, V0);
      const utx = buildUnbondingTx(exp);
      return {
        staking_tx_hash_hex: txid,
        unbonding_tx_hash_hex: utx.getId(),
        unbonding_tx_hex: utx.toHex(),
        staker_signed_signature_hex: toHex(staker.sign(unbondingSighash(utx, exp))),
      };
    },
  };
}

/** Fake but well-formed txids for events whose tx content does not matter. */
export const fakeHash = (label: string) => createHash('sha256').update(label).digest('hex');

export function activeEvent(
  s: { txid: string; hex: string; staker: TestKey; fp: TestKey; valueSat: number; stakingTime: number },
  o: { sequence: number; height?: number; timestamp?: number; overflow?: boolean },
): ActiveStakingEvent {
  return {
    event_type: EVENT_TYPE_OF_KIND.active,
    event_id: `${s.txid}:active`,
    sequence: o.sequence,
    staking_tx_hash_hex: s.txid,
    staker_pk_hex: toHex(s.staker.xOnly),
    finality_provider_pk_hex: toHex(s.fp.xOnly),
    staking_value: s.valueSat,
    staking_start_height: o.height ?? 120,
    staking_start_timestamp: o.timestamp ?? 1_731_000_000,
    staking_timelock: s.stakingTime,
    staking_output_index: 0,
    staking_tx_hex: s.hex,
    is_overflow: o.overflow ?? false,
  };
}

export function unbondingEvent(
  txid: string,
  o: { sequence: number; height?: number },
): UnbondingStakingEvent {
  return {
    event_type: EVENT_TYPE_OF_KIND.unbonding,
    event_id: `${txid}:unbonding`,
    sequence: o.sequence,
    staking_tx_hash_hex: txid,
    unbonding_start_height: o.height ?? 130,
    unbonding_start_timestamp: 1_731_006_000,
    unbonding_timelock: 3,
    unbonding_output_index: 0,
    unbonding_tx_hex: '02000000000101',
    unbonding_tx_hash_hex: fakeHash(`unbonding:${txid}`),
  };
}

export function expiredEvent(
  txid: string,
  txType: 'active' | 'unbonding',
  o: { sequence: number; height?: number },
): ExpiredStakingEvent {
  return {
    event_type: EVENT_TYPE_OF_KIND.expired,
    event_id: `${txid}:expired:${txType}`,
    sequence: o.sequence,
    staking_tx_hash_hex: txid,
    tx_type: txType,
    expire_height: o.height ?? 140,
  };
}

export function withdrawEvent(
  txid: string,
  from: 'staking' | 'unbonding',
  o: { sequence: number; height?: number },
): WithdrawStakingEvent {
  return {
    event_type: EVENT_TYPE_OF_KIND.withdraw,
    event_id: `${txid}:withdraw`,
    sequence: o.sequence,
    staking_tx_hash_hex: txid,
    withdraw_tx_hash_hex: fakeHash(`withdraw:${txid}`),
    withdraw_tx_btc_height: o.height ?? 150,
    withdraw_from: from,
  };
}

export function btcInfoEvent(
  height: number,
  confirmed: number,
  unconfirmed: number,
  sequence: number,
): BtcInfoEvent {
  return {
    event_type: EVENT_TYPE_OF_KIND['btc-info'],
    event_id: `btc-info:${height}`,
    sequence,
    height,
    confirmed_tvl: confirmed,
    unconfirmed_tvl: unconfirmed,
  };
}

/** Finality-provider file entries for test keys. */
export function fpFileDoc(fps: readonly TestKey[]): { finality_providers: unknown[] } {
  return {
    finality_providers: fps.map((k, i) => ({
      description: {
        moniker: `fp-${i}`,
        identity: '',
        website: `https://fp${i}.example`,
        security_contact: `sec@fp${i}.example`,
        details: 'test provider',
      },
      commission: '0.05',
      btc_pk: toHex(k.xOnly),
    })),
  };
}

/**
 * An API configuration for tests: params and finality-provider files in a temp dir, the given
 * database, port 0 (any free), the ops listener off unless `ops` (then on loopback, any free port),
 * queue as given (default off); `env` overrides any option last (`API__SECTION__KEY`).
 */
export function testApiConfig(o: {
  dbUrl: string;
  fps?: readonly TestKey[];
  queue?: { url: string; prefix: string; maxAttempts?: number; retryDelayMs?: number; prefetch?: number };
  statsCacheMs?: number;
  paginationLimit?: number;
  poolSize?: number;
  ops?: boolean;
  env?: NodeJS.ProcessEnv;
}): ApiConfig {
  const dir = testTempDir('api-test-');
  const paramsFile = join(dir, 'global-params.json');
  const fpFile = join(dir, 'finality-providers.json');
  writeFileSync(paramsFile, JSON.stringify(PARAMS_DOC));
  writeFileSync(fpFile, JSON.stringify(fpFileDoc(o.fps ?? [])));
  const env: NodeJS.ProcessEnv = {
    API__SERVER__PORT: '0',
    API__SERVER__CORS_ALLOWED_ORIGINS: '["*"]',
    API__OPS__ENABLED: o.ops ? 'true' : 'false',
    ...(o.ops ? { API__OPS__HOST: '127.0.0.1', API__OPS__PORT: '0' } : {}),
    API__DATABASE__URL: o.dbUrl,
    API__DATABASE__POOL_SIZE: String(o.poolSize ?? 5),
    API__PARAMS__FILE: paramsFile,
    API__PARAMS__FINALITY_PROVIDERS_FILE: fpFile,
    API__BITCOIND__NETWORK: 'regtest',
    API__API__STATS_CACHE_MS: String(o.statsCacheMs ?? 0),
    API__API__PAGINATION_LIMIT: String(o.paginationLimit ?? 10),
    API__LOG__LEVEL: 'warn',
    // Route tests do not need the page; api/dashboard.int.test.ts turns it on with a build of its own.
    API__DASHBOARD__ENABLED: 'false',
    API__RABBITMQ__ENABLED: o.queue ? 'true' : 'false',
    ...(o.queue
      ? {
          API__RABBITMQ__URL: o.queue.url,
          API__RABBITMQ__PREFIX: o.queue.prefix,
          API__RABBITMQ__QUEUE_TYPE: 'classic',
          API__RABBITMQ__MAX_ATTEMPTS: String(o.queue.maxAttempts ?? 3),
          API__RABBITMQ__RETRY_DELAY_MS: String(o.queue.retryDelayMs ?? 50),
          API__RABBITMQ__PREFETCH: String(o.queue.prefetch ?? 1),
        }
      : {}),
    ...o.env,
  };
  return loadApiConfig(undefined, env);
}
