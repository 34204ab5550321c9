import { describe, expect, it } from 'vitest';
import {
  delegationToken,
  encodeToken,
  parseDelegationToken,
  parseStatsToken,
  statsToken,
} from './pagination.ts';

const h = 'ab'.repeat(32);

describe('pagination tokens', () => {
  it('round-trip, URL-safe, in the reference JSON shape', () => {
    const t = delegationToken({ stakingTxid: h, stakingStartHeight: 840_000 });
    expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(t, 'base64url').toString())).toEqual({
      staking_tx_hash_hex: h,
      staking_start_height: 840_000,
    });
    expect(parseDelegationToken(t)).toEqual({ stakingTxid: h, stakingStartHeight: 840_000 });
    const s = statsToken('staker_pk_hex', { pkHex: h, activeTvl: 5 });
    expect(parseStatsToken('staker_pk_hex', s)).toEqual({ pkHex: h, activeTvl: 5 });
  });

  it('accepts its token re-encoded in standard base64 with padding (the reference checked one alphabet and issued the other, §3.4)', () => {
    for (let height = 0; height < 50; height++) {
      const t = delegationToken({ stakingTxid: h, stakingStartHeight: height });
      const std = Buffer.from(t, 'base64url').toString('base64');
      expect(parseDelegationToken(std)).toEqual(parseDelegationToken(t));
    }
    expect(
      Buffer.from(delegationToken({ stakingTxid: h, stakingStartHeight: 1 }), 'base64url').toString('base64'),
    ).toMatch(/=$/);
  });

  it.each([
    ['not base64', '***'],
    ['not JSON', Buffer.from('hello').toString('base64url')],
    ['an array', encodeToken({}).replace(/.*/, Buffer.from('[1]').toString('base64url'))],
    ['a bad hash', encodeToken({ staking_tx_hash_hex: 'xyz', staking_start_height: 1 })],
    ['a negative height', encodeToken({ staking_tx_hash_hex: h, staking_start_height: -1 })],
    ['a fractional height', encodeToken({ staking_tx_hash_hex: h, staking_start_height: 1.5 })],
    ['an extra field', encodeToken({ staking_tx_hash_hex: h, staking_start_height: 1, x: 1 })],
    ['a stats token', statsToken('staker_pk_hex', { pkHex: h, activeTvl: 1 })],
  ])('refuses %s', (_w, t) => {
    expect(() => parseDelegationToken(t)).toThrow(
      expect.objectContaining({ code: 'API_INVALID_PAGINATION_KEY' }),
    );
  });

  it('keeps staker and provider tokens apart', () => {
    const t = statsToken('staker_pk_hex', { pkHex: h, activeTvl: 1 });
    expect(() => parseStatsToken('finality_provider_pk_hex', t)).toThrow(
      expect.objectContaining({ code: 'API_INVALID_PAGINATION_KEY' }),
    );
  });
});
