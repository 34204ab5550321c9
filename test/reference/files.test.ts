import { describe, expect, it } from 'vitest';
import { parseFinalityProviders } from '../../params/index.ts';

/**
 * Files a provider brings from the reference stack parse unchanged (issue 25). The finality-provider
 * registry of mainnet, babylonlabs-io/networks@05db270 `bbn-1/finality-providers/registry/*.json`,
 * names the key `eots_pk` and has no deposit; the testnet registry, babylonchain/networks@d7c0bac
 * `bbn-test-4/finality-providers/registry/*.json`, names it `btc_pk` (backend-services.md §7). The
 * staking API reads one aggregated file of such entries (§3, `{"finality_providers": [...]}`).
 */
const KEY_A = 'b5e37d93a8d04daee62838ac680ead407d7cbe0c858525781f8834495be0bce7';
const KEY_B = '46542ccdcbde8a8c147c8d00f14d47f0d5c13c684d27497fc4610c7a4def15e5';
const description = {
  moniker: 'Provider A',
  identity: '',
  website: 'https://a.example',
  security_contact: 'ops@a.example',
  details: 'mainnet registry entry',
};

describe('finality-provider files in the reference forms', () => {
  it('reads mainnet (bbn-1) registry entries: eots_pk, no deposit', () => {
    const fps = parseFinalityProviders(
      JSON.stringify({
        finality_providers: [{ description, eots_pk: KEY_A, commission: '0.050000000000000000' }],
      }),
    );
    expect(fps[0]).toMatchObject({ btcPkHex: KEY_A, commission: '0.050000000000000000' });
    expect(fps[0]!.description.securityContact).toBe('ops@a.example');
  });

  it('reads the API aggregate of testnet entries (btc_pk) beside mainnet ones, and entries without a description', () => {
    const fps = parseFinalityProviders({
      finality_providers: [
        { description, btc_pk: KEY_A, commission: '0.1' },
        { eots_pk: KEY_B, commission: '0' },
      ],
    });
    expect(fps.map((f) => f.btcPkHex)).toEqual([KEY_A, KEY_B]);
    expect(fps[1]!.description.moniker).toBe('');
  });
});
