import type { RpcClient } from '../bitcoind/index.ts';
import { isCodedError } from '../common/index.ts';
import {
  claimUnbondingRequests,
  countUnbondingRequests,
  type Database,
  recordUnbondingAttempt,
  type UnbondingRequest,
} from '../db/index.ts';
import type { GlobalParams } from '../params/index.ts';
import type { PipelineMetrics } from './metrics.ts';
import { type ProcessOutcome, processRequest } from './process.ts';
import type { SignerClient } from './signerClient.ts';

export interface WorkerOptions {
  readonly workerId: string;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Exponential backoff with full jitter: attempt n waits up to base·2^(n−1), capped. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Whether an attempt's request is tried again (with backoff). A signer's refusal never ends a
 * request by itself: a signer whose node lags answers "unknown" or "unconfirmed" for a stake the
 * pipeline has just re-checked on its own node, and the reference signer answers those, and a key
 * it does not hold, with a bare 500 (covenant-signer.md §1.3) that cannot be told from a passing
 * fault; so every refusal, 4xx of ours or 500 of the reference, is the same retried no_quorum.
 */
export function isRetried(out: ProcessOutcome): boolean {
  return out.state === 'failed' || out.state === 'no_quorum';
}

/**
 * The pipeline's loop: claim due requests (several instances never claim the same one), process
 * each (pipeline/process.ts), and record the outcome under the claim's lease. sent and input_spent
 * are final; failed and no_quorum are retried with exponential backoff, attempts counted.
 */
export class PipelineWorker {
  readonly #db: Database;
  readonly #rpc: RpcClient;
  readonly #params: () => GlobalParams;
  readonly #signers: readonly SignerClient[];
  readonly #opts: WorkerOptions;
  readonly #metrics: PipelineMetrics | undefined;
  readonly #log: Log;
  #stopping = false;
  #round: Promise<number> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: {
    db: Database;
    rpc: RpcClient;
    params: () => GlobalParams;
    signers: readonly SignerClient[];
    options: WorkerOptions;
    metrics?: PipelineMetrics;
    log: Log;
  }) {
    this.#db = deps.db;
    this.#rpc = deps.rpc;
    this.#params = deps.params;
    this.#signers = deps.signers;
    this.#opts = deps.options;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
  }

  /** One round: claims and processes due requests until none are due. Returns how many it processed. */
  runOnce(): Promise<number> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  async #runRound(): Promise<number> {
    let processed = 0;
    while (!this.#stopping) {
      const batch = await claimUnbondingRequests(this.#db.pool, {
        worker: this.#opts.workerId,
        limit: this.#opts.batchSize,
        leaseMs: this.#opts.leaseMs,
      });
      if (batch.length === 0) break;
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(this.#opts.concurrency, batch.length) }, async () => {
          // A claimed request is always finished and recorded, even while stopping.
          while (next < batch.length) await this.#handle(batch[next++]!);
        }),
      );
      processed += batch.length;
    }
    await this.#refreshGauges();
    this.#metrics?.lastRun.setToCurrentTime();
    return processed;
  }

  async #handle(req: UnbondingRequest): Promise<void> {
    let out: ProcessOutcome;
    try {
      out = await processRequest(
        {
          stakingTxid: req.stakingTxid,
          unbondingTxHex: req.unbondingTxHex,
          stakerSignatureHex: req.stakerSignatureHex,
        },
        { params: this.#params(), rpc: this.#rpc, signers: this.#signers },
      );
    } catch (e) {
      // A coded failure keeps its code (the node failing at the spent check is PIPELINE_NODE_UNAVAILABLE);
      // only what nobody named is internal.
      out = {
        state: 'failed',
        code: isCodedError(e) ? e.code : 'PIPELINE_INTERNAL',
        reason: (e as Error).message,
      };
      this.#log.error({ err: e, stakingTx: req.stakingTxid }, 'unbonding request processing failed');
    }
    const outcomes = 'outcomes' in out ? (out.outcomes ?? []) : [];
    for (const o of outcomes) {
      this.#metrics?.signerLatency.observe({ signer: o.signer }, o.ms / 1000);
      this.#metrics?.signerResults.inc({ signer: o.signer, result: o.ok ? 'ok' : (o.code ?? 'error') });
    }
    if (out.state === 'sent' && out.msToQuorum !== undefined)
      this.#metrics?.timeToQuorum.observe(out.msToQuorum / 1000);
    const retry = isRetried(out);
    const at = new Date().toISOString();
    const key = new Map(this.#signers.map((s) => [s.endpoint.name, s.endpoint.publicKeyHex]));
    const recorded = await recordUnbondingAttempt(this.#db.pool, {
      id: req.id,
      worker: this.#opts.workerId,
      state: out.state,
      signerResults: outcomes.map((o) => ({
        covenant_pk_hex: key.get(o.signer) ?? '',
        signature_hex: null,
        error: o.ok ? null : `${o.code ?? 'error'}${o.signerCode ? ` (${o.signerCode})` : ''}`,
        at,
        signer: o.signer,
        ms: Math.round(o.ms),
        used: o.used ?? false,
      })),
      error: out.state === 'sent' ? null : 'reason' in out ? out.reason : null,
      retryAfterMs: retry ? backoffMs(req.attempts, this.#opts.backoffBaseMs, this.#opts.backoffMaxMs) : 0,
    });
    this.#metrics?.attempts.inc({ state: out.state, code: out.state === 'failed' ? out.code : 'OK' });
    const logFields = { stakingTx: req.stakingTxid, state: out.state, attempts: req.attempts };
    if (!recorded)
      this.#log.warn(
        logFields,
        'lease lost before the outcome was recorded; another instance owns the request now',
      );
    else if (out.state === 'sent') this.#log.info({ ...logFields, txid: out.txid }, 'unbonding tx broadcast');
    else
      this.#log.warn(
        { ...logFields, reason: 'reason' in out ? out.reason : undefined },
        'unbonding request not sent',
      );
  }

  async #refreshGauges(): Promise<void> {
    if (!this.#metrics) return;
    try {
      for (const [state, n] of Object.entries(await countUnbondingRequests(this.#db.pool))) {
        this.#metrics.requestsByState.set({ state }, n);
      }
      await this.backlog();
    } catch {
      // The gauges are best effort; the next round tries again.
    }
  }

  /**
   * The pipeline's lag: requests not yet sent, and how long the oldest of them has waited (what an
   * operator is paged on: a staker asked and nothing happened). Sets the gauges.
   * @throws the database's error (and sets pipeline_database_up 0)
   */
  async backlog(): Promise<{ unsent: number; oldestAgeSeconds: number }> {
    try {
      const r = await this.#db.pool.query<{ n: string; age: number | null }>(
        `SELECT count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age
         FROM unbonding_requests WHERE state IN ('pending', 'failed', 'no_quorum')`,
      );
      const out = { unsent: Number(r.rows[0]?.n ?? 0), oldestAgeSeconds: Math.max(0, r.rows[0]?.age ?? 0) };
      this.#metrics?.databaseUp.set(1);
      this.#metrics?.oldestDueAge.set(out.oldestAgeSeconds);
      return out;
    } catch (e) {
      this.#metrics?.databaseUp.set(0);
      throw e;
    }
  }

  /** Runs rounds every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    const tick = async () => {
      if (this.#stopping) return;
      try {
        await this.runOnce();
      } catch (e) {
        this.#log.error({ err: e }, 'pipeline round failed; retrying at the next interval');
      }
      if (!this.#stopping) this.#timer = setTimeout(tick, intervalMs);
    };
    void tick();
  }

  /** Stops claiming; the requests in hand are finished and recorded first. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#round?.catch(() => undefined);
  }
}
