import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, getDelegation, type ScratchDatabase } from '../db/index.ts';
import { type RunningApi, startApi } from './app.ts';
import { applyEvent } from './apply.ts';
import { activeEvent, makeStake, testApiConfig } from './testkit.ts';

/*
 * API_EVENT_CONFLICT: an "active" event under an id this store never applied, for a delegation it
 * already holds (a store restored without its event ledger, or an indexer that renamed its event
 * ids). The event is refused and nothing is written: not the row, not the event's id.
 */
let scratch: ScratchDatabase;
let api: RunningApi;
const stake = makeStake('event-conflict');

beforeAll(async () => {
  scratch = await createScratchDatabase('api_event_conflict');
  api = await startApi(testApiConfig({ dbUrl: scratch.url, env: { API__LOG__LEVEL: 'fatal' } }));
}, 60_000);
afterAll(async () => {
  await api?.stop();
  await scratch?.drop();
});

describe('an active event for a delegation held under another event id', () => {
  it('is refused with API_EVENT_CONFLICT, writes nothing, and stays refused', async () => {
    const first = activeEvent(stake, { sequence: 1, height: 200 });
    expect(await applyEvent(api.db, first)).toBe('applied');
    expect(await applyEvent(api.db, first)).toBe('duplicate');
    const before = await getDelegation(api.db, stake.txid);

    const renamed = {
      ...activeEvent(stake, { sequence: 2, height: 201 }),
      event_id: `${stake.txid}:active:v2`,
    };
    for (let i = 0; i < 2; i++) {
      await expect(applyEvent(api.db, renamed)).rejects.toMatchObject({
        code: 'API_EVENT_CONFLICT',
        details: { eventId: renamed.event_id },
      });
    }
    expect(await getDelegation(api.db, stake.txid)).toEqual(before);
  });
});
