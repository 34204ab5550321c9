import { bytesEqual, isCodedError, type XOnlyKey } from '../common/index.ts';
import { type CovenantSignature, type SignUnbondingRequestBody, verifySchnorr } from '../staking/index.ts';
import type { SignerClient } from './signerClient.ts';

/** What one signer did for one request: for the request's record and the metrics. */
export interface SignerOutcome {
  readonly signer: string;
  readonly ok: boolean;
  readonly ms: number;
  /** PIPELINE_SIGNER_… code, or the signer's own refusal code in `signerCode`. */
  readonly code?: string;
  readonly signerCode?: string;
  /** Whether its signature went into the witness. */
  readonly used?: boolean;
}

export interface QuorumResult {
  readonly reached: boolean;
  /** The first `quorum` valid signatures, in the order they arrived. */
  readonly signatures: readonly CovenantSignature[];
  readonly outcomes: readonly SignerOutcome[];
  readonly msToQuorum?: number;
}

/**
 * Asks every configured signer whose key is in the stake's covenant set, in parallel, and stops as
 * soon as `quorum` valid signatures are in (the rest are abandoned). Every signature is verified
 * against our own sighash and that signer's key: a signer that answers with a bad one is counted
 * and ignored, and never blocks the quorum while enough others are honest.
 */
export async function collectQuorum(args: {
  readonly signers: readonly SignerClient[];
  readonly covenantKeys: readonly XOnlyKey[];
  readonly quorum: number;
  readonly sighash: Uint8Array;
  readonly body: Omit<SignUnbondingRequestBody, 'covenant_public_key'>;
}): Promise<QuorumResult> {
  const t0 = performance.now();
  const eligible = args.signers.filter((s) => args.covenantKeys.some((k) => bytesEqual(k, s.endpoint.key)));
  const outcomes: SignerOutcome[] = [];
  const valid: CovenantSignature[] = [];
  const abort = new AbortController();
  let msToQuorum: number | undefined;

  await new Promise<void>((resolve) => {
    let pending = eligible.length;
    if (pending === 0) resolve();
    for (const s of eligible) {
      const started = performance.now();
      s.sign({ ...args.body, covenant_public_key: s.endpoint.publicKeyHex }, abort.signal).then(
        (signature) => {
          const ms = performance.now() - started;
          if (!verifySchnorr(args.sighash, s.endpoint.key, signature)) {
            outcomes.push({
              signer: s.endpoint.name,
              ok: false,
              ms,
              code: 'PIPELINE_SIGNER_INVALID_SIGNATURE',
            });
          } else if (valid.length < args.quorum) {
            valid.push({ key: s.endpoint.key, signature });
            outcomes.push({ signer: s.endpoint.name, ok: true, ms, used: true });
            if (valid.length === args.quorum) {
              msToQuorum = performance.now() - t0;
              abort.abort();
              resolve();
            }
          } else {
            outcomes.push({ signer: s.endpoint.name, ok: true, ms, used: false });
          }
          if (--pending === 0) resolve();
        },
        (e: unknown) => {
          const ms = performance.now() - started;
          const code = isCodedError(e) ? e.code : 'PIPELINE_SIGNER_UNREACHABLE';
          const signerCode = isCodedError(e) ? (e.details?.signerCode as string | undefined) : undefined;
          outcomes.push({
            signer: s.endpoint.name,
            ok: false,
            ms,
            code,
            ...(signerCode ? { signerCode } : {}),
          });
          if (--pending === 0) resolve();
        },
      );
    }
  });
  // A snapshot: answers that arrive after the quorum are not waited for; those signers are abandoned.
  const answered = new Set(outcomes.map((o) => o.signer));
  const snapshot = [
    ...outcomes,
    ...eligible
      .filter((s) => !answered.has(s.endpoint.name))
      .map(
        (s): SignerOutcome => ({
          signer: s.endpoint.name,
          ok: false,
          ms: performance.now() - t0,
          code: 'PIPELINE_SIGNER_ABANDONED',
        }),
      ),
  ];
  return {
    reached: valid.length >= args.quorum,
    signatures: [...valid],
    outcomes: snapshot,
    ...(msToQuorum !== undefined ? { msToQuorum } : {}),
  };
}
