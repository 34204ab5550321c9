// The phase-2 decision core: anti-replay, custody, verification of every signature, the audit record.
import { CodedError, isCodedError, toHex } from '../../common/index.ts';
import type { CustodyBackend } from '../../hsm/index.ts';
import type { Phase2Params } from '../../params/index.ts';
import {
  type SignTransactionsRequestBody,
  type SignTransactionsResponse,
  verifyAdaptorSignature,
  verifySchnorr,
} from '../../staking/index.ts';
import type { AuditLog } from '../audit.ts';
import type { ChainView } from '../chain.ts';
import { auditRefusal, type SignedRecord, slotOf } from '../service.ts';
import type { PartialFacts } from '../validate.ts';
import type { Phase2Outcome } from './contract.ts';
import type { ExpansionRecord, Phase2SignedRecord } from './memory.ts';
import { type Phase2Plan, validatePhase2Request } from './validate.ts';

/**
 * The phase-2 decision core, the same discipline as CovenantSigner: validate, anti-replay (one set
 * of slashing / unbonding / unbonding-slashing txs per staking output and key, an identical repeat
 * gets the identical answer, and the unbonding signature agrees with phase 1's memory), custody,
 * verify every signature against our own sighashes and key, a durable audit record, then answer.
 */
export class Phase2Signer {
  constructor(
    private readonly deps: {
      readonly params: () => Phase2Params;
      readonly chain: ChainView;
      readonly tipHeight: () => Promise<number>;
      readonly custody: CustodyBackend;
      readonly audit: AuditLog;
      readonly heldKeys: () => ReadonlySet<string>;
      /** Phase 1's memory: its unbonding signatures per output and key, shared so both agree. */
      readonly phase1: Map<string, SignedRecord>;
      readonly signed: Map<string, Phase2SignedRecord>;
      /** One expansion tx per previous staking output and key. */
      readonly expansions: Map<string, ExpansionRecord>;
      readonly onCustody?: (seconds: number, ok: boolean) => void;
      /** Phase 1's per-slot lock, so a phase-1 and a phase-2 request for one output never race. */
      readonly exclusive: <T>(slot: string, fn: () => Promise<T>) => Promise<T>;
    },
  ) {}

  /** @throws {CodedError} the reason for a refusal (also recorded in the audit log) */
  async sign(
    body: SignTransactionsRequestBody,
    caller: string,
    correlationId: string,
  ): Promise<Phase2Outcome> {
    const d = this.deps;
    const facts: PartialFacts = {};
    const base = { event: 'decision' as const, kind: 'phase2', correlation_id: correlationId, caller };
    const refuse = async (e: unknown): Promise<never> => {
      throw await auditRefusal(d.audit, base, facts, e, 300);
    };
    let plan: Phase2Plan;
    try {
      plan = await validatePhase2Request(
        body,
        { params: d.params(), chain: d.chain, tipHeight: d.tipHeight, heldKeys: d.heldKeys() },
        facts,
      );
    } catch (e) {
      return refuse(e);
    }
    const slot = slotOf(plan.stakingTxid, plan.stakingVout, plan.keyHex);
    const decided = {
      staking_txid: plan.stakingTxid,
      staking_vout: plan.stakingVout,
      unbonding_txid: plan.unbondingTxid,
      params_version: plan.version.version,
      covenant_key: plan.keyHex,
      slashing_txid: plan.txids.slashing,
      unbonding_slashing_txid: plan.txids.slashUnbonding,
      p2_set: plan.setId,
    };
    const prevSlot = plan.expansion
      ? slotOf(plan.expansion.previousTxid, plan.expansion.previousVout, plan.keyHex)
      : undefined;
    // One decision at a time per staking output and key, whichever phase asks (the slot is phase 1's);
    // an expansion also holds its previous output's slot, so two expansions of it cannot both sign.
    const decide = (): Promise<Phase2Outcome> =>
      d.exclusive(slot, async () => {
        const prior = d.signed.get(slot);
        if (prior) {
          if (prior.setId !== plan.setId) {
            return refuse(
              new CodedError(
                'SIGNER_P2_ALREADY_SIGNED_OTHER',
                `this signer already signed a different set of slashing/unbonding txs (${prior.setId}) for staking output ${plan.stakingTxid}:${plan.stakingVout}`,
              ),
            );
          }
          await d.audit.append({ ...base, ...decided, outcome: 'repeated' });
          return { response: prior.response, outcome: 'repeated', paramsVersion: plan.version.version };
        }
        const priorExpansion = prevSlot ? d.expansions.get(prevSlot) : undefined;
        if (priorExpansion && priorExpansion.expansionTxid !== plan.stakingTxid) {
          return refuse(
            new CodedError(
              'SIGNER_P2_EXPANSION_ALREADY_SIGNED_OTHER',
              `this signer already signed expansion tx ${priorExpansion.expansionTxid} spending previous staking output ${plan.expansion!.previousTxid}:${plan.expansion!.previousVout}`,
            ),
          );
        }
        const p1 = d.phase1.get(slot);
        if (p1 && p1.unbondingTxid !== plan.unbondingTxid) {
          return refuse(
            new CodedError(
              'SIGNER_P2_UNBONDING_DISAGREES',
              `this signer already signed unbonding tx ${p1.unbondingTxid} for staking output ${plan.stakingTxid}:${plan.stakingVout}`,
            ),
          );
        }
        if (!d.custody.adaptorSign) {
          return refuse(
            new CodedError(
              'SIGNER_P2_CUSTODY_UNSUPPORTED',
              `custody ${d.custody.kind} cannot make adaptor signatures`,
            ),
          );
        }
        const items = [
          ...plan.encKeys.map((encryptionKey) => ({ sighash: plan.slashingSighash, encryptionKey })),
          ...plan.encKeys.map((encryptionKey) => ({ sighash: plan.unbondingSlashingSighash, encryptionKey })),
        ];
        let presigs: Uint8Array[];
        let unbondingSig: Uint8Array;
        let expansionSig: Uint8Array | undefined;
        const t0 = performance.now();
        try {
          presigs = await d.custody.adaptorSign({ key: plan.key, items });
          if (plan.expansion) {
            expansionSig = await d.custody.sign({
              key: plan.key,
              sighash: plan.expansion.sighash,
              unbondingTx: plan.unbondingTx,
              stakingOutput: plan.expansion.previousOutput,
              leaf: plan.expansion.previousUnbondingLeaf,
            });
          }
          unbondingSig = await d.custody.sign({
            key: plan.key,
            sighash: plan.unbondingSighash,
            unbondingTx: plan.unbondingTx,
            stakingOutput: plan.stakingOutput,
            leaf: plan.stakingInfo.unbonding,
          });
          d.onCustody?.((performance.now() - t0) / 1000, true);
        } catch (e) {
          d.onCustody?.((performance.now() - t0) / 1000, false);
          return refuse(
            isCodedError(e, 'HSM_LOCKED')
              ? new CodedError('SIGNER_LOCKED', 'the signer is locked: POST /v1/unlock first', { cause: e })
              : new CodedError('SIGNER_CUSTODY_UNAVAILABLE', 'the custody backend could not sign', {
                  cause: e,
                }),
          );
        }
        // Whatever the backend, nothing leaves that does not verify against our own sighashes and key.
        const ok =
          presigs.length === items.length &&
          items.every((it, i) =>
            verifyAdaptorSignature(plan.key, it.sighash, it.encryptionKey, presigs[i]!),
          ) &&
          verifySchnorr(plan.unbondingSighash, plan.key, unbondingSig) &&
          (!plan.expansion ||
            (expansionSig !== undefined && verifySchnorr(plan.expansion.sighash, plan.key, expansionSig)));
        if (!ok) {
          return refuse(
            new CodedError('SIGNER_INTERNAL', 'custody returned a signature that does not verify', {
              cause: new Error('bad custody signature'),
            }),
          );
        }
        const n = plan.encKeys.length;
        const response: SignTransactionsResponse = {
          slashing_transactions_signatures: presigs.slice(0, n).map(toHex),
          unbonding_transaction_signature: toHex(unbondingSig),
          slash_unbonding_transactions_signatures: presigs.slice(n).map(toHex),
          stake_expansion_transaction_signature: expansionSig ? toHex(expansionSig) : '',
        };
        // `signature` is the unbonding signature: phase 1's replayCollector rebuilds from it too.
        await d.audit.append({
          ...base,
          ...decided,
          outcome: 'signed',
          signature: response.unbonding_transaction_signature,
          response,
          ...(plan.expansion
            ? {
                expansion_previous_txid: plan.expansion.previousTxid,
                expansion_previous_vout: plan.expansion.previousVout,
              }
            : {}),
        });
        d.signed.set(slot, { setId: plan.setId, response });
        if (prevSlot)
          d.expansions.set(prevSlot, {
            expansionTxid: plan.stakingTxid,
            signatureHex: response.stake_expansion_transaction_signature,
          });
        if (!p1)
          d.phase1.set(slot, {
            unbondingTxid: plan.unbondingTxid,
            signatureHex: response.unbonding_transaction_signature,
          });
        return { response, outcome: 'signed', paramsVersion: plan.version.version };
      });
    return prevSlot ? d.exclusive(prevSlot, decide) : decide();
  }
}
