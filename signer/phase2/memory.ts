// The phase-2 anti-replay memory: what is kept per staking output and key (and per previous output
// of an expansion), rebuilt from the audit log at start-up.

import type { SignTransactionsResponse } from '../../staking/index.ts';
import type { AuditRecord } from '../audit.ts';
import { slotOf } from '../service.ts';

/** What the phase-2 memory keeps per staking output and key: the set of txs signed, and the answer. */
export interface Phase2SignedRecord {
  readonly setId: string;
  readonly response: SignTransactionsResponse;
}

/** The identity of a request's transaction set: what an identical repeat must reproduce. */
export function setIdOf(txids: { slashing: string; unbonding: string; slashUnbonding: string }): string {
  return `${txids.slashing}/${txids.unbonding}/${txids.slashUnbonding}`;
}

/** What the signer remembers per previous staking output and key: the one expansion tx it signed. */
export interface ExpansionRecord {
  readonly expansionTxid: string;
  readonly signatureHex: string;
}

/** Rebuilds the phase-2 memory from the audit log, as replayCollector does for phase 1. */
export function phase2ReplayCollector(): {
  readonly index: Map<string, Phase2SignedRecord>;
  readonly expansions: Map<string, ExpansionRecord>;
  onRecord(r: AuditRecord): void;
} {
  const index = new Map<string, Phase2SignedRecord>();
  const expansions = new Map<string, ExpansionRecord>();
  return {
    index,
    expansions,
    onRecord(r) {
      if (r.event !== 'decision' || r.outcome !== 'signed' || r.kind !== 'phase2') return;
      const resp = r.response as SignTransactionsResponse | undefined;
      if (!r.staking_txid || r.staking_vout === undefined || !r.covenant_key || !resp) return;
      if (typeof r.p2_set !== 'string') return;
      index.set(slotOf(r.staking_txid, r.staking_vout, r.covenant_key), { setId: r.p2_set, response: resp });
      if (typeof r.expansion_previous_txid === 'string' && typeof r.expansion_previous_vout === 'number') {
        expansions.set(slotOf(r.expansion_previous_txid, r.expansion_previous_vout, r.covenant_key), {
          expansionTxid: r.staking_txid,
          signatureHex: resp.stake_expansion_transaction_signature,
        });
      }
    },
  };
}
