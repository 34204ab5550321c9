import type { UnsequencedEvent } from '../events/index.ts';
import type { BlockStats } from './blockResult.ts';
import { expiredEvent } from './chainEvents.ts';
import type { Overlay } from './overlay.ts';
import type { StateReader } from './state.ts';

/**
 * Expiry: the confirmed height `h` reaches start height + timelock (see README, "Expiry"). Each
 * delegation expires at most once per type, and as `active` only while still active.
 */
export function decideExpiries(
  base: StateReader,
  st: Overlay,
  h: number,
  events: UnsequencedEvent[],
  stats: BlockStats,
): void {
  for (const e of base.expiriesAt(h)) {
    st.removeExpiry(e);
    const d = st.delegation(e.stakingTxid);
    if (!d) continue;
    if (e.type === 'active' && d.state === 'active' && !d.expiredActive) {
      // Object.assign, not a spread followed by properties: see `Overlay.putDelegation`.
      st.putDelegation(Object.assign({}, d, { expiredActive: true }));
    } else if (e.type === 'unbonding' && d.state === 'unbonding' && !d.expiredUnbonding) {
      st.putDelegation(Object.assign({}, d, { expiredUnbonding: true }));
    } else {
      continue;
    }
    stats.expired++;
    events.push(expiredEvent(d, e.type, h));
  }
}
