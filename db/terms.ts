import type { Queryable } from './database.ts';

/**
 * Records that a wallet accepted the dashboard's terms (POST /log-terms-acceptance). Every
 * acceptance is a row, as the reference inserted one document per call: the log is evidence of
 * when, not a set of who.
 */
export async function recordTermsAcceptance(
  q: Queryable,
  address: string,
  publicKeyHex: string,
): Promise<void> {
  await q.query({
    name: 'terms_acceptance_insert',
    text: 'INSERT INTO terms_acceptances (address, public_key_hex) VALUES ($1, $2)',
    values: [address, publicKeyHex],
  });
}
