import { describe, expect, it } from 'vitest';
import type { Delegation, DelegationState } from '../db/index.ts';
import { EVENT_TYPE_OF_KIND } from '../events/index.ts';
import { fakeHash } from './testkit.ts';
import { type DelegationEvent, decide } from './transitions.ts';

const H = fakeHash('d');
const U = {
  txHashHex: fakeHash('u'),
  txHex: '00',
  outputIndex: 0,
  startHeight: 130,
  startTimestamp: 1,
  timelock: 3,
};

function delegation(
  state: DelegationState,
  o: { unbonding?: boolean; expired?: boolean; overflow?: boolean } = {},
): Delegation {
  return {
    stakingTxid: H,
    stakerPkHex: fakeHash('s'),
    finalityProviderPkHex: fakeHash('f'),
    stakingValue: 1000,
    state,
    isOverflow: o.overflow ?? false,
    stakingTxHex: '00',
    stakingOutputIndex: 0,
    stakingStartHeight: 120,
    stakingStartTimestamp: 1,
    stakingTimelock: 10,
    stakingExpired: o.expired ?? false,
    unbonding: o.unbonding ? U : null,
    withdrawTxHashHex: null,
    withdrawHeight: null,
  };
}

const ev = {
  unbonding: {
    event_type: EVENT_TYPE_OF_KIND.unbonding,
    event_id: `${H}:unbonding`,
    sequence: 1,
    staking_tx_hash_hex: H,
    unbonding_start_height: 130,
    unbonding_start_timestamp: 1,
    unbonding_timelock: 3,
    unbonding_output_index: 0,
    unbonding_tx_hex: '00',
    unbonding_tx_hash_hex: fakeHash('u'),
  },
  expiredActive: {
    event_type: EVENT_TYPE_OF_KIND.expired,
    event_id: `${H}:expired:active`,
    sequence: 1,
    staking_tx_hash_hex: H,
    tx_type: 'active',
    expire_height: 130,
  },
  expiredUnbonding: {
    event_type: EVENT_TYPE_OF_KIND.expired,
    event_id: `${H}:expired:unbonding`,
    sequence: 1,
    staking_tx_hash_hex: H,
    tx_type: 'unbonding',
    expire_height: 133,
  },
  withdrawStaking: {
    event_type: EVENT_TYPE_OF_KIND.withdraw,
    event_id: `${H}:withdraw`,
    sequence: 1,
    staking_tx_hash_hex: H,
    withdraw_tx_hash_hex: fakeHash('w'),
    withdraw_tx_btc_height: 140,
    withdraw_from: 'staking',
  },
  withdrawUnbonding: {
    event_type: EVENT_TYPE_OF_KIND.withdraw,
    event_id: `${H}:withdraw`,
    sequence: 1,
    staking_tx_hash_hex: H,
    withdraw_tx_hash_hex: fakeHash('w'),
    withdraw_tx_btc_height: 140,
    withdraw_from: 'unbonding',
  },
} as const satisfies Record<string, DelegationEvent>;

type Row = [
  string,
  keyof typeof ev,
  Delegation | undefined,
  'apply' | 'superseded' | 'reject',
  DelegationState | null,
  boolean,
];

/** The delegation state machine as a table: event, current row, decision, new state, unbonded stats. */
const TABLE: Row[] = [
  ['unbonding of an active delegation', 'unbonding', delegation('active'), 'apply', 'unbonding', true],
  [
    'unbonding of an overflow delegation moves no stats',
    'unbonding',
    delegation('active', { overflow: true }),
    'apply',
    'unbonding',
    false,
  ],
  [
    'unbonding after an API request',
    'unbonding',
    delegation('unbonding_requested'),
    'apply',
    'unbonding',
    true,
  ],
  [
    'unbonding after the staking timelock expired',
    'unbonding',
    delegation('unbonded', { expired: true }),
    'apply',
    'unbonding',
    true,
  ],
  ['unbonding before the active event', 'unbonding', undefined, 'reject', null, false],
  ['a second unbonding', 'unbonding', delegation('unbonding', { unbonding: true }), 'reject', null, false],
  [
    'unbonding of a withdrawn delegation',
    'unbonding',
    delegation('withdrawn', { expired: true }),
    'reject',
    null,
    false,
  ],
  [
    'staking expiry of an active delegation',
    'expiredActive',
    delegation('active'),
    'apply',
    'unbonded',
    false,
  ],
  [
    'staking expiry while unbonding is requested (the reference dropped it)',
    'expiredActive',
    delegation('unbonding_requested'),
    'apply',
    'unbonded',
    false,
  ],
  [
    'staking expiry overtaken by the unbonding',
    'expiredActive',
    delegation('unbonding', { unbonding: true }),
    'superseded',
    null,
    false,
  ],
  ['staking expiry before the active event', 'expiredActive', undefined, 'reject', null, false],
  [
    'a second staking expiry',
    'expiredActive',
    delegation('unbonded', { expired: true }),
    'reject',
    null,
    false,
  ],
  [
    'unbonding expiry',
    'expiredUnbonding',
    delegation('unbonding', { unbonding: true }),
    'apply',
    'unbonded',
    false,
  ],
  [
    'unbonding expiry of an active delegation',
    'expiredUnbonding',
    delegation('active'),
    'reject',
    null,
    false,
  ],
  [
    'withdraw from staking after expiry',
    'withdrawStaking',
    delegation('unbonded', { expired: true }),
    'apply',
    'withdrawn',
    false,
  ],
  [
    'withdraw from staking of an active delegation (expiry missing)',
    'withdrawStaking',
    delegation('active'),
    'reject',
    null,
    false,
  ],
  [
    'withdraw from staking of an unbonded-by-unbonding delegation',
    'withdrawStaking',
    delegation('unbonded', { unbonding: true }),
    'reject',
    null,
    false,
  ],
  [
    'withdraw from unbonding after its expiry',
    'withdrawUnbonding',
    delegation('unbonded', { unbonding: true }),
    'apply',
    'withdrawn',
    false,
  ],
  [
    'withdraw from unbonding while still unbonding',
    'withdrawUnbonding',
    delegation('unbonding', { unbonding: true }),
    'reject',
    null,
    false,
  ],
  [
    'withdraw from unbonding with no unbonding tx',
    'withdrawUnbonding',
    delegation('unbonded', { expired: true }),
    'reject',
    null,
    false,
  ],
  [
    'a second withdraw',
    'withdrawUnbonding',
    delegation('withdrawn', { unbonding: true }),
    'reject',
    null,
    false,
  ],
  ['withdraw before the active event', 'withdrawStaking', undefined, 'reject', null, false],
];

describe('delegation state machine', () => {
  it.each(TABLE)('%s', (_name, event, d, kind, to, unbondedStats) => {
    const r = decide(d, ev[event]);
    expect(r.kind).toBe(kind);
    if (r.kind === 'apply') {
      expect(r.update.state).toBe(to);
      expect(r.countUnbonded).toBe(unbondedStats);
      expect(r.from).toEqual([d!.state]);
    }
    if (r.kind === 'reject') expect(r.reason).toMatch(/not found|does not fit/);
  });

  it('records the unbonding tx on unbonding and the withdraw tx on withdraw', () => {
    const u = decide(delegation('active'), ev.unbonding);
    expect(u.kind === 'apply' && u.update.unbonding).toEqual(U);
    const w = decide(delegation('unbonded', { unbonding: true }), ev.withdrawUnbonding);
    expect(w.kind === 'apply' && w.update).toMatchObject({
      withdrawTxHashHex: fakeHash('w'),
      withdrawHeight: 140,
    });
  });
});
