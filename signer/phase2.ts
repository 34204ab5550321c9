// Phase-2 covenant duties (POST /v1/sign-transactions), entry to the pieces under phase2/:
//   contract.ts the reference's request and response (read its first comment for the why)
//   memory.ts   the anti-replay memory, rebuilt from the audit log
//   params.ts   the phase-2 params file, reloaded append-only
//   validate.ts every check before a signature, and the plan it yields
//   signer.ts   Phase2Signer, the decision core
export type { Phase2Outcome } from './phase2/contract.ts';
export { type ExpansionRecord, type Phase2SignedRecord, phase2ReplayCollector } from './phase2/memory.ts';
export { type LoadedPhase2Params, loadPhase2ParamsFile, Phase2ParamsHolder } from './phase2/params.ts';
export { Phase2Signer } from './phase2/signer.ts';
export { type Phase2Context, validatePhase2Request } from './phase2/validate.ts';
