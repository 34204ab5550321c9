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
  // Every eligible signer has its outcome here: reaching the quorum aborts the requests still in
  // flight, and each rejects with PIPELINE_SIGNER_ABORTED synchronously inside abort(), so its
  // outcome is recorded before this function resumes (peers.test.ts holds that order).
  const snapshot = [...outcomes];
  return {
    reached: valid.length >= args.quorum,
    signatures: [...valid],
    outcomes: snapshot,
    ...(msToQuorum !== undefined ? { msToQuorum } : {}),
  };
}
