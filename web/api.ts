/**
 * The dashboard's client of the public REST API (api/README.md), same origin only. Every failure
 * becomes one readable sentence: the API's own message when it answered, or what went wrong on
 * the way when it did not.
 */
import { CodedError } from '../common/index.ts';
import type { BitcoinNetwork, UnbondingRequestBody } from '../staking/index.ts';

export interface Stats {
  readonly active_tvl: number;
  readonly total_tvl: number;
  readonly active_delegations: number;
  readonly total_delegations: number;
  readonly total_stakers: number;
  readonly unconfirmed_tvl: number;
  readonly pending_tvl: number;
}

export interface BtcInfo {
  readonly network: BitcoinNetwork;
  readonly tip_height: number | null;
  readonly confirmed_tvl: number;
  readonly unconfirmed_tvl: number;
}

export interface FinalityProviderRow {
  readonly description: { readonly moniker: string; readonly website: string; readonly details: string };
  readonly commission: string;
  readonly btc_pk: string;
  readonly active_tvl: number;
  readonly total_tvl: number;
  readonly active_delegations: number;
  readonly total_delegations: number;
}

export interface TxInfo {
  readonly tx_hex: string;
  readonly output_index: number;
  readonly start_timestamp: string;
  readonly start_height: number;
  readonly timelock: number;
}

export type DelegationState = 'active' | 'unbonding_requested' | 'unbonding' | 'unbonded' | 'withdrawn';

export interface Delegation {
  readonly staking_tx_hash_hex: string;
  readonly staker_pk_hex: string;
  readonly finality_provider_pk_hex: string;
  readonly state: DelegationState;
  readonly staking_value: number;
  readonly staking_tx: TxInfo;
  readonly unbonding_tx?: TxInfo;
  readonly is_overflow: boolean;
}

export interface Page<T> {
  readonly data: T;
  readonly nextKey: string;
}

async function call<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { accept: 'application/json', ...init?.headers } });
  } catch {
    throw new CodedError('WEB_API_ERROR', 'The staking API cannot be reached; the page retries on its own.');
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    throw new CodedError(
      'WEB_API_ERROR',
      `The staking API answered ${res.status} with something that is not JSON.`,
    );
  }
  if (!res.ok) {
    const b = body as { message?: unknown; code?: unknown } | null;
    const message = typeof b?.message === 'string' ? b.message : `HTTP ${res.status}`;
    const code = typeof b?.code === 'string' ? ` (${b.code})` : '';
    throw new CodedError('WEB_API_ERROR', `The staking API refused: ${message}${code}.`, {
      details: { status: res.status, apiCode: b?.code },
    });
  }
  return { status: res.status, body: body as T };
}

const q = (params: Record<string, string | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) s.set(k, v);
  const t = s.toString();
  return t ? `?${t}` : '';
};

/**
 * The client of the API at `baseUrl`: empty (the default) for the page, which is served by the API
 * itself; `http://host:port` for a client elsewhere, such as the demo.
 */
export function createApi(baseUrl = '') {
  const send = <T>(path: string, init?: RequestInit) => call<T>(`${baseUrl}${path}`, init);
  return {
    async stats(): Promise<Stats> {
      return (await send<{ data: Stats }>('/v1/stats')).body.data;
    },
    async btcInfo(): Promise<BtcInfo> {
      return (await send<{ data: BtcInfo }>('/v1/btc-info')).body.data;
    },
    /** The raw global-params document (`{versions}`), for params/parseGlobalParams. */
    async globalParams(): Promise<unknown> {
      return (await send<{ data: unknown }>('/v1/global-params')).body.data;
    },
    async finalityProviders(key = ''): Promise<Page<FinalityProviderRow[]>> {
      const r = await send<{ data: FinalityProviderRow[]; pagination: { next_key: string } }>(
        `/v1/finality-providers${q({ pagination_key: key })}`,
      );
      return { data: r.body.data, nextKey: r.body.pagination.next_key };
    },
    async delegations(stakerPkHex: string, key = ''): Promise<Page<Delegation[]>> {
      const r = await send<{ data: Delegation[]; pagination: { next_key: string } }>(
        `/v1/staker/delegations${q({ staker_btc_pk: stakerPkHex, pagination_key: key })}`,
      );
      return { data: r.body.data, nextKey: r.body.pagination.next_key };
    },
    /** One delegation, or undefined while the indexer has not confirmed it (404). */
    async delegation(stakingTxid: string): Promise<Delegation | undefined> {
      try {
        return (await send<{ data: Delegation }>(`/v1/delegation${q({ staking_tx_hash_hex: stakingTxid })}`))
          .body.data;
      } catch (e) {
        if (e instanceof CodedError && e.details?.status === 404) return undefined;
        throw e;
      }
    },
    /** Resolves with the HTTP status of an accepted request (the reference answers 202). */
    async requestUnbonding(body: UnbondingRequestBody): Promise<number> {
      const r = await send('/v1/unbonding', {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      return r.status;
    },
  };
}

export type ApiClient = ReturnType<typeof createApi>;

/** The page's client: same origin. */
export const api = createApi();
