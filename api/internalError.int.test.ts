import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../db/index.ts';
import { type RunningApi, startApi } from './app.ts';
import { applyEvent } from './apply.ts';
import { activeEvent, makeStake, testApiConfig } from './testkit.ts';

/*
 * A failure nobody planned for reaches the caller as 500 API_INTERNAL with a fixed sentence and
 * nothing of its cause. The failure here is real: a stored staking value beyond JavaScript's safe
 * integers (as a hand edit of the database could leave), which the store refuses to read
 * (DB_UNSAFE_INTEGER) rather than round.
 */
let scratch: ScratchDatabase;
let api: RunningApi;
const stake = makeStake('internal-error');
const UNSAFE = '9007199254740993';

beforeAll(async () => {
  scratch = await createScratchDatabase('api_internal_error');
  // The failure is logged at error level by design; the test reads the answer, not the log.
  api = await startApi(testApiConfig({ dbUrl: scratch.url, env: { API__LOG__LEVEL: 'fatal' } }));
  await applyEvent(api.db, activeEvent(stake, { sequence: 1, height: 200 }));
}, 60_000);
afterAll(async () => {
  await api?.stop();
  await scratch?.drop();
});

const getDelegation = async () => {
  const r = await api.app.inject({
    method: 'GET',
    url: `/v1/delegation?staking_tx_hash_hex=${stake.txid}`,
  });
  return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, unknown> };
};

describe('an unplanned failure', () => {
  it('reads the delegation while its stored value is sound', async () => {
    expect((await getDelegation()).status).toBe(200);
  });

  it('is 500 API_INTERNAL when the store refuses a value it cannot represent (DB_UNSAFE_INTEGER)', async () => {
    await api.db.pool.query('UPDATE delegations SET staking_value = $1 WHERE staking_tx_hash_hex = $2', [
      UNSAFE,
      stake.txid,
    ]);
    const r = await getDelegation();
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ code: 'API_INTERNAL', message: 'Internal service error' });
    expect(JSON.stringify(r.body)).not.toMatch(/DB_UNSAFE_INTEGER|staking_value|9007199254740993/);
  });
});
