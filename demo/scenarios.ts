import { parseXOnlyKey } from '../common/index.ts';
import type { ParamsVersion } from '../params/index.ts';
import type { UnbondingExpectation } from '../staking/index.ts';
import { type ApiClient, createApi, type Stats } from '../web/api.ts';
import { readMetrics, sumOf } from './observe.ts';
import { type DemoStake, WalletStaker } from './staker.ts';
import type { DemoSystem } from './system.ts';

/**
 * The seven scenarios of the reference demo (backend-services.md §6.2), played in order against a
 * running system. Each step says what it does; each expectation is checked through the public API
 * and the indexer's metrics, as an operator would check it. The first unmet expectation stops the
 * run with a sentence saying what was expected and what was seen.
 *
 * Heights follow the reference script. A transaction sent at tip h is mined at h+1 and, with
 * confirmation depth 2, decided by the indexer at tip h+2.
 */

export interface ScenarioResult {
  readonly n: number;
  readonly title: string;
  readonly ok: boolean;
  readonly ms: number;
  /** What was expected and what was seen, when not ok. */
  readonly error?: string;
}

/** An expectation the system did not meet. */
export class ExpectationFailed extends Error {
  override readonly name = 'ExpectationFailed';
}

const btc = (n: number): bigint => BigInt(Math.round(n * 1e8));
const fmtBtc = (sat: number | bigint): string => `${Number(sat) / 1e8} BTC`;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running state the scenarios share: the stakes made so far, the staker, the clients. */
class Play {
  readonly api: ApiClient;
  readonly stakes = new Map<string, DemoStake>();
  unbonding?: { txid: string; height: number; exp: UnbondingExpectation };

  constructor(
    readonly sys: DemoSystem,
    readonly staker: WalletStaker,
    readonly out: (line: string) => void,
  ) {
    this.api = createApi(sys.apiUrl);
  }

  get v0(): ParamsVersion {
    return this.sys.params.versions[0]!;
  }
  get v1(): ParamsVersion {
    return this.sys.params.versions[1] ?? this.v0;
  }
  get depth(): number {
    return this.v0.confirmationDepth;
  }

  say(line: string): void {
    this.out(`  -> ${line}`);
  }
  good(line: string): void {
    this.out(`  ok ${line}`);
  }

  async height(): Promise<number> {
    return this.sys.node.rpc.getblockcount();
  }

  async mine(n = 1): Promise<number> {
    const h = await this.sys.mine(n);
    this.say(`mined ${n} block${n === 1 ? '' : 's'}: height ${h}`);
    await this.sys.waitForSync();
    return h;
  }

  async mineTo(height: number): Promise<number> {
    const tip = await this.height();
    if (height > tip) return this.mine(height - tip);
    return tip;
  }

  async stake(
    label: string,
    amountBtc: number,
    stakingTime: number,
    version: ParamsVersion,
  ): Promise<DemoStake> {
    const s = await this.staker.stake(btc(amountBtc), stakingTime, version);
    this.stakes.set(label, s);
    this.say(
      `height ${await this.height()}: staked ${amountBtc} BTC for ${stakingTime} blocks (built under params v${version.version}): tx ${s.txid}`,
    );
    return s;
  }

  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sumOf(await readMetrics(this.sys.urls.indexerOps), name, labels);
  }

  /**
   * Polls `probe` until it reports `ok` or `timeoutMs` passes. The system is eventually consistent
   * (indexer → queue → API), so even after waitForSync a check gets a short grace. A passed check
   * prints its claim, and the probe's `evidence` only where that says more than the claim does;
   * `seen` is for the failure message.
   */
  async expect(
    what: string,
    probe: () => Promise<{ ok: boolean; seen: string; evidence?: string }>,
    timeoutMs = 15_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await probe();
      if (r.ok) {
        this.good(r.evidence ? `${what} — ${r.evidence}` : what);
        return;
      }
      if (Date.now() > deadline) throw new ExpectationFailed(`expected ${what}; saw ${r.seen}`);
      await delay(200);
    }
  }

  expectDelegation(label: string, want: { state: string; is_overflow?: boolean }): Promise<void> {
    const s = this.stakes.get(label)!;
    const wantText = `${want.state}${want.is_overflow === undefined ? '' : `, is_overflow ${want.is_overflow}`}`;
    return this.expect(`the ${label} stake is ${wantText}`, async () => {
      const d = await this.api.delegation(s.txid);
      if (!d) return { ok: false, seen: 'the API does not know it' };
      const ok =
        d.state === want.state && (want.is_overflow === undefined || d.is_overflow === want.is_overflow);
      return { ok, seen: `${d.state}, is_overflow ${d.is_overflow}` };
    });
  }

  /** The indexer rejected or ignored the stake, so the API has never heard of it. */
  expectUnknown(label: string): Promise<void> {
    const s = this.stakes.get(label)!;
    return this.expect(`the API does not know the ${label} stake`, async () => {
      const d = await this.api.delegation(s.txid);
      return {
        ok: d === undefined,
        seen: d ? `it is ${d.state}` : 'GET /v1/delegation answers 404',
        evidence: 'GET /v1/delegation answers 404',
      };
    });
  }

  expectStats(want: Partial<Stats>): Promise<void> {
    const text = (s: Partial<Stats>) =>
      Object.entries(s)
        .map(([k, v]) => `${k} ${k.endsWith('_tvl') ? fmtBtc(v) : v}`)
        .join(', ');
    return this.expect(`/v1/stats: ${text(want)}`, async () => {
      const s = await this.api.stats();
      const seen = Object.fromEntries(Object.keys(want).map((k) => [k, s[k as keyof Stats]]));
      const ok = Object.entries(want).every(([k, v]) => s[k as keyof Stats] === v);
      return { ok, seen: text(seen) };
    });
  }
}

type Scenario = { readonly title: string; readonly play: (p: Play) => Promise<void> };

const SCENARIOS: readonly Scenario[] = [
  {
    title: 'transactions before the activation height are ignored',
    async play(p) {
      await p.mineTo(110);
      await p.stake('pre-activation 6 BTC', 6, 1000, p.v0);
      await p.mine(2);
      await p.expect('the indexer counted no staking transaction (si_total_staking_txs)', async () => {
        const n = await p.metric('si_total_staking_txs');
        return { ok: n === 0, seen: `si_total_staking_txs ${n}` };
      });
      await p.expectUnknown('pre-activation 6 BTC');
      await p.expectStats({ active_delegations: 0, total_delegations: 0, active_tvl: 0, total_tvl: 0 });
    },
  },
  {
    title: 'the staking cap fills, and the next stake is marked overflow',
    async play(p) {
      await p.mineTo(p.v0.activationHeight);
      p.say(`params v0 active: cap ${fmtBtc(p.v0.stakingCapSat)}`);
      await p.stake('2 BTC', 2, 1000, p.v0);
      await p.stake('8 BTC', 8, 1000, p.v0);
      await p.mine();
      await p.stake('1 BTC (over the cap)', 1, 1000, p.v0);
      await p.mine();
      await p.expectDelegation('2 BTC', { state: 'active', is_overflow: false });
      await p.expectDelegation('8 BTC', { state: 'active', is_overflow: false });
      await p.mine();
      await p.expectDelegation('1 BTC (over the cap)', { state: 'active', is_overflow: true });
      await p.expectStats({ active_delegations: 2, total_delegations: 2, active_tvl: 1_000_000_000 });
    },
  },
  {
    title: 'on-demand unbonding through the pipeline and the signers re-opens the cap',
    async play(p) {
      const s = p.stakes.get('2 BTC')!;
      const { body, unbondingTx, exp } = await p.staker.unbondingRequest(s);
      p.say(
        `the staker's wallet signed unbonding tx ${unbondingTx.getId()} (fee ${fmtBtc(p.v0.unbondingFeeSat)})`,
      );
      // A refusal throws with the API's code and sentence; an acceptance must be the reference's 202.
      const status = await p.api.requestUnbonding(body);
      if (status !== 202) throw new ExpectationFailed(`POST /v1/unbonding: expected 202; got ${status}`);
      p.good('POST /v1/unbonding accepted the request (202)');
      await p.expectDelegation('2 BTC', { state: 'unbonding_requested' });
      await p.expect(
        'the pipeline collected 2 of 3 covenant signatures and broadcast the unbonding tx',
        async () => {
          const pool = await p.sys.node.rpc.getrawmempool();
          const ok = pool.includes(unbondingTx.getId());
          return { ok, seen: 'not in the mempool yet', evidence: 'it is in the mempool' };
        },
      );
      const minedAt = await p.mine();
      await p.mine();
      p.unbonding = { txid: unbondingTx.getId(), height: minedAt, exp };
      await p.expectDelegation('2 BTC', { state: 'unbonding' });
      await p.expectStats({ active_delegations: 1, total_delegations: 2, active_tvl: 800_000_000 });
      await p.stake('1 BTC (after unbonding)', 1, 1000, p.v0);
      await p.mine(2);
      await p.expectDelegation('1 BTC (after unbonding)', { state: 'active', is_overflow: false });
      await p.mineTo(minedAt + p.v0.unbondingTime + p.depth - 1);
      await p.expectDelegation('2 BTC', { state: 'unbonded' });
    },
  },
  {
    title: 'withdraw after unbonding',
    async play(p) {
      const u = p.unbonding!;
      const txid = await p.staker.withdrawUnbonding(u.txid, u.exp, p.v0);
      p.say(`withdrew the unbonding output through its timelock leaf: tx ${txid}`);
      await p.mine(2);
      await p.expectDelegation('2 BTC', { state: 'withdrawn' });
      await p.expectStats({ active_delegations: 2, total_delegations: 3 });
    },
  },
  {
    title: 'the new params version rejects a stake below its minimum',
    async play(p) {
      await p.mineTo(p.v1.activationHeight);
      const gp = (await p.api.globalParams()) as { versions: Record<string, number>[] };
      const v1 = gp.versions.find((v) => v.version === p.v1.version);
      if (!v1) throw new ExpectationFailed(`GET /v1/global-params has no version ${p.v1.version}`);
      p.say(
        `GET /v1/global-params, version ${v1.version}: active from height ${v1.activation_height}, ` +
          `stakes of ${fmtBtc(v1.min_staking_amount!)} to ${fmtBtc(v1.max_staking_amount!)} ` +
          `for ${v1.min_staking_time} to ${v1.max_staking_time} blocks, cap ${fmtBtc(v1.staking_cap!)}, ` +
          `unbonding fee ${v1.unbonding_fee} sat, quorum ${v1.covenant_quorum} of ${p.v1.covenantPks.length}`,
      );
      const invalid = (txType: string) => p.metric('si_invalid_txs_counter', { tx_type: txType });
      const before = {
        unconfirmed: await invalid('unconfirmed_staking_transaction'),
        confirmed: await invalid('confirmed_staking_transaction'),
      };
      await p.stake('1.5 BTC (below the v1 minimum)', 1.5, 1000, p.v0);
      await p.mine();
      await p.expect(
        'the indexer rejected it in the unconfirmed window: si_invalid_txs_counter{tx_type="unconfirmed_staking_transaction"} +1',
        async () => {
          const n = await invalid('unconfirmed_staking_transaction');
          const seen = `${before.unconfirmed} → ${n}`;
          return { ok: n === before.unconfirmed + 1, seen, evidence: seen };
        },
      );
      await p.mine();
      await p.expect(
        'and once confirmed: si_invalid_txs_counter{tx_type="confirmed_staking_transaction"} +1',
        async () => {
          const n = await invalid('confirmed_staking_transaction');
          const seen = `${before.confirmed} → ${n}`;
          return { ok: n === before.confirmed + 1, seen, evidence: seen };
        },
      );
      const reasons = (await readMetrics(p.sys.urls.indexerOps))
        .filter((m) => m.name === 'indexer_invalid_txs_by_reason_total' && m.value > 0)
        .map((m) => `${m.labels.reason} (${m.labels.tx_type}) ${m.value}`);
      p.say(`indexer_invalid_txs_by_reason_total: ${reasons.join(', ')}`);
      await p.expectUnknown('1.5 BTC (below the v1 minimum)');
    },
  },
  {
    title: 'a short staking timelock expires and the stake is withdrawn',
    async play(p) {
      await p.mineTo(133);
      await p.stake('5 BTC for 2 blocks', 5, 2, p.v1);
      const minedAt = await p.mine();
      await p.expectStats({
        active_tvl: 900_000_000,
        total_tvl: 1_100_000_000,
        unconfirmed_tvl: 1_400_000_000,
      });
      await p.mineTo(minedAt + 2 + p.depth - 1);
      await p.expectDelegation('5 BTC for 2 blocks', { state: 'unbonded' });
      await p.expectStats({
        active_tvl: 1_400_000_000,
        total_tvl: 1_600_000_000,
        unconfirmed_tvl: 1_400_000_000,
      });
      const txid = await p.staker.withdrawStake(p.stakes.get('5 BTC for 2 blocks')!);
      p.say(`withdrew the expired stake through its timelock leaf: tx ${txid}`);
      await p.mine(2);
      await p.expectDelegation('5 BTC for 2 blocks', { state: 'withdrawn' });
      await p.expectStats({ active_delegations: 3, total_delegations: 4 });
    },
  },
  {
    title: 'a one-block re-organisation does not lose a stake',
    async play(p) {
      await p.mineTo(140);
      const s = await p.stake('7 BTC (re-organised)', 7, 1000, p.v1);
      const h = await p.mine();
      const best = await p.sys.node.rpc.getbestblockhash();
      await p.sys.node.rpc.invalidateblock(best);
      p.say(`invalidateblock ${best} (height ${h}, the block with the stake): the tx is back in the mempool`);
      // To another address: the same coinbase in the same second would rebuild the invalidated block.
      const other = await p.sys.wallet.getnewaddress('reorg', 'bech32m');
      await p.sys.node.rpc.generatetoaddress(2, other);
      p.say(`mined 2 blocks on the other branch: height ${await p.height()}`);
      await p.sys.waitForSync();
      await p.expectDelegation('7 BTC (re-organised)', { state: 'active', is_overflow: false });
      const d = await p.api.delegation(s.txid);
      p.good(`the stake now starts at height ${d?.staking_tx.start_height}, in the re-mined block`);
      await p.expectStats({ active_tvl: 2_100_000_000 });
    },
  },
];

export const SCENARIO_TITLES: readonly string[] = SCENARIOS.map((s) => s.title);

/**
 * Plays the scenarios in order on a freshly started system; stops at the first failure (each
 * scenario builds on the state the previous ones left). `only` limits the run to the first N.
 */
export async function playScenarios(
  sys: DemoSystem,
  out: (line: string) => void,
  opts: { readonly only?: number } = {},
): Promise<ScenarioResult[]> {
  const fp = sys.finalityProviders[0]!;
  const fpKey = parseXOnlyKey(fp.btcPkHex, 'finality provider key', 'DEMO_CONFIG');
  const staker = await WalletStaker.create(sys.node.rpc, sys.wallet, fpKey);
  out(
    `staker key ${Buffer.from(staker.key).toString('hex')} (wallet btcstaker), finality provider ${fp.moniker}`,
  );
  const play = new Play(sys, staker, out);
  const results: ScenarioResult[] = [];
  for (const [i, s] of SCENARIOS.slice(0, opts.only ?? SCENARIOS.length).entries()) {
    const n = i + 1;
    out('');
    out(`== Scenario ${n}: ${s.title}`);
    const t0 = performance.now();
    try {
      await s.play(play);
      results.push({ n, title: s.title, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      out(`  FAILED ${error}`);
      results.push({ n, title: s.title, ok: false, ms: performance.now() - t0, error });
      break;
    }
  }
  return results;
}
