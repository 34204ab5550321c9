import { CodedError, isCodedError, parseHex, toHex } from '../common/index.ts';
import type { CustodyBackend } from '../hsm/index.ts';
import type { GlobalParams } from '../params/index.ts';
import { type SignUnbondingRequestBody, verifySchnorr } from '../staking/index.ts';
import type { AuditFields, AuditLog, AuditRecord } from './audit.ts';
import type { ChainView } from './chain.ts';
import { type PartialFacts, validateSignRequest } from './validate.ts';

/** What the signer remembers per (staking output, covenant key): the one unbonding tx it signed. */
export interface SignedRecord {
  readonly unbondingTxid: string;
  readonly signatureHex: string;
}

export interface SignOutcome {
  readonly signatureHex: string;
  readonly outcome: 'signed' | 'repeated';
  readonly paramsVersion: number;
}

export interface SignerHooks {
  /** Called with how long custody took and whether it failed, for metrics. */
  onCustody?(seconds: number, ok: boolean): void;
}

/**
 * The anti-replay memory's key: one staking output and one covenant key. Phase 1 and phase 2 share
 * the memory, so both must key it by this one function.
 */
export const slotOf = (stakingTxid: string, vout: number, keyHex: string) =>
  `${stakingTxid}:${vout}:${keyHex}`;

/**
 * Records a refusal in the audit log with what was known of the request when it was refused, and
 * returns the coded error to throw. An error without a code is an internal one: it is recorded and
 * answered without its detail. `maxReason` bounds the recorded sentence where it may quote a request.
 */
export async function auditRefusal(
  audit: AuditLog,
  base: { readonly correlation_id: string; readonly caller: string; readonly kind?: string },
  facts: PartialFacts,
  e: unknown,
  maxReason?: number,
): Promise<CodedError> {
  const coded = isCodedError(e) ? e : new CodedError('SIGNER_INTERNAL', 'internal error', { cause: e });
  await audit.append({
    event: 'decision',
    ...base,
    outcome: 'refused',
    code: coded.code,
    reason: coded.code === 'SIGNER_INTERNAL' ? 'internal error' : coded.message.slice(0, maxReason),
    staking_txid: facts.stakingTxid,
    staking_vout: facts.stakingVout,
    unbonding_txid: facts.unbondingTxid,
    params_version: facts.paramsVersion,
    covenant_key: facts.keyHex,
  });
  return coded;
}

/** Builds the anti-replay memory from the audit log's records (AuditLog.open's onRecord). */
export function replayCollector(): {
  readonly index: Map<string, SignedRecord>;
  onRecord(r: AuditRecord): void;
} {
  const index = new Map<string, SignedRecord>();
  return {
    index,
    onRecord(r) {
      if (r.event !== 'decision' || r.outcome !== 'signed') return;
      if (
        !r.staking_txid ||
        r.staking_vout === undefined ||
        !r.covenant_key ||
        !r.unbonding_txid ||
        !r.signature
      )
        return;
      index.set(slotOf(r.staking_txid, r.staking_vout, r.covenant_key), {
        unbondingTxid: r.unbonding_txid,
        signatureHex: r.signature,
      });
    },
  };
}

/**
 * The covenant signer's decision core, without HTTP: validate (signer/validate.ts), then the
 * anti-replay rule — one unbonding tx per staking output and key, an identical repeat gets the
 * identical signature — then custody, then a check of custody's signature against our own sighash
 * and key, then a durable audit record. Only then does a signature leave.
 */
export class CovenantSigner {
  readonly #params: () => GlobalParams;
  readonly #chain: ChainView;
  readonly #custody: CustodyBackend;
  readonly #audit: AuditLog;
  readonly #signed: Map<string, SignedRecord>;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #hooks: SignerHooks;
  readonly #maxStakingTxHeight: number | undefined;
  #heldKeys: ReadonlySet<string> = new Set();

  constructor(deps: {
    params: () => GlobalParams;
    chain: ChainView;
    custody: CustodyBackend;
    audit: AuditLog;
    signed: Map<string, SignedRecord>;
    hooks?: SignerHooks;
    maxStakingTxHeight?: number;
  }) {
    this.#params = deps.params;
    this.#chain = deps.chain;
    this.#custody = deps.custody;
    this.#audit = deps.audit;
    this.#signed = deps.signed;
    this.#hooks = deps.hooks ?? {};
    this.#maxStakingTxHeight = deps.maxStakingTxHeight;
  }

  /** Reads the keys custody holds; call at start (and after a custody change). */
  async refreshKeys(): Promise<ReadonlySet<string>> {
    this.#heldKeys = new Set((await this.#custody.publicKeys()).map(toHex));
    return this.#heldKeys;
  }

  get heldKeys(): ReadonlySet<string> {
    return this.#heldKeys;
  }

  /**
   * Decides one request and records the decision.
   * @throws {CodedError} the reason for a refusal (also recorded in the audit log)
   */
  async sign(body: SignUnbondingRequestBody, caller: string, correlationId: string): Promise<SignOutcome> {
    // Every path below ends in one audit record; until it is appended, batches may wait for it.
    const appending = this.#audit.expect();
    try {
      return await this.#decide(body, caller, correlationId, appending);
    } finally {
      appending();
    }
  }

  /** `appending` is called right before the decision's record is appended (sign). */
  async #decide(
    body: SignUnbondingRequestBody,
    caller: string,
    correlationId: string,
    appending: () => void,
  ): Promise<SignOutcome> {
    const facts: PartialFacts = {};
    const base = { event: 'decision' as const, correlation_id: correlationId, caller };
    const record = (fields: AuditFields) => {
      appending();
      return this.#audit.append(fields);
    };
    const refuse = async (e: unknown): Promise<never> => {
      appending();
      throw await auditRefusal(this.#audit, base, facts, e);
    };

    let plan: Awaited<ReturnType<typeof validateSignRequest>>;
    try {
      plan = await validateSignRequest(
        body,
        {
          params: this.#params(),
          chain: this.#chain,
          heldKeys: this.#heldKeys,
          maxStakingTxHeight: this.#maxStakingTxHeight,
        },
        facts,
      );
    } catch (e) {
      return refuse(e);
    }

    const slot = slotOf(plan.stakingTxid, plan.stakingVout, plan.keyHex);
    // The decision's record, its fields named one by one: built as `{ ...base, ...decided, … }` it
    // made V8 keep each request's objects alive through two scavenges (signer/README.md, Performance).
    const decision = (outcome: 'signed' | 'repeated', signature: string): AuditFields => ({
      event: 'decision',
      correlation_id: correlationId,
      caller,
      staking_txid: plan.stakingTxid,
      staking_vout: plan.stakingVout,
      unbonding_txid: plan.unbondingTxid,
      params_version: plan.params.version,
      covenant_key: plan.keyHex,
      outcome,
      signature,
    });
    // A decision that waits for another on its slot waits for that one's record: not for batches to wait on.
    if (this.#locks.has(slot)) appending();
    // One decision at a time per staking output and key, so two concurrent requests cannot both sign.
    return this.#withLock(slot, async () => {
      const prior = this.#signed.get(slot);
      if (prior) {
        if (prior.unbondingTxid !== plan.unbondingTxid) {
          return refuse(
            new CodedError(
              'SIGNER_ALREADY_SIGNED_OTHER',
              `this signer already signed unbonding tx ${prior.unbondingTxid} for staking output ${plan.stakingTxid}:${plan.stakingVout}`,
            ),
          );
        }
        await record(decision('repeated', prior.signatureHex));
        return { signatureHex: prior.signatureHex, outcome: 'repeated', paramsVersion: plan.params.version };
      }

      let signature: Uint8Array;
      const t0 = performance.now();
      try {
        signature = await this.#custody.sign({
          key: plan.key,
          sighash: plan.sighash,
          unbondingTx: plan.unbondingTx,
          stakingOutput: { script: plan.exp.stakingPkScript, valueSat: plan.exp.stakingValueSat },
          leaf: plan.data.stakingInfo.unbonding,
        });
        this.#hooks.onCustody?.((performance.now() - t0) / 1000, true);
      } catch (e) {
        this.#hooks.onCustody?.((performance.now() - t0) / 1000, false);
        return refuse(
          isCodedError(e, 'HSM_LOCKED')
            ? new CodedError('SIGNER_LOCKED', 'the signer is locked: POST /v1/unlock first', { cause: e })
            : new CodedError('SIGNER_CUSTODY_UNAVAILABLE', 'the custody backend could not sign', {
                cause: e,
              }),
        );
      }
      // Whatever the backend, nothing leaves that does not verify against our own sighash and key.
      if (!verifySchnorr(plan.sighash, plan.key, signature)) {
        return refuse(
          new CodedError('SIGNER_INTERNAL', 'custody returned a signature that does not verify', {
            cause: new Error('bad custody signature'),
          }),
        );
      }
      const signatureHex = toHex(signature);
      await record(decision('signed', signatureHex));
      this.#signed.set(slot, { unbondingTxid: plan.unbondingTxid, signatureHex });
      return { signatureHex, outcome: 'signed', paramsVersion: plan.params.version };
    });
  }

  /** Runs `fn` alone for a `stakingTxid:vout:keyHex` slot; phase 2 decides under the same lock. */
  exclusive<T>(slot: string, fn: () => Promise<T>): Promise<T> {
    return this.#withLock(slot, fn);
  }

  async #withLock<T>(slot: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(slot) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.#locks.set(slot, settled);
    try {
      return await run;
    } finally {
      if (this.#locks.get(slot) === settled) this.#locks.delete(slot);
    }
  }
}

/** Hex of a 64-byte signature for the wire; parse back for tests and clients. */
export function parseSignatureHex(hex: string): Uint8Array {
  return parseHex(hex, 'signature_hex', 'SIGNER_INTERNAL', { bytes: 64 });
}
