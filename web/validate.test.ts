import { describe, expect, it } from 'vitest';
import { testKey } from '../test/keys.ts';
import { PARAMS, p2trAddress, p2wpkhAddress } from './testkit.ts';
import { addressNetwork, checkStake, parseBtcInput, type StakeCheckInput } from './validate.ts';

const staker = testKey('web-staker');
const fpPk = '9c9a0b13cad3d9be2a2b1f4aac1c9c11e1e3e6ef0a8cbf8c0b9b5a2c3f0a1d2e';
const base: StakeCheckInput = {
  params: PARAMS,
  tipHeight: 120,
  amountText: '2',
  timeText: '100',
  feeRateText: '2',
  stakedSat: 0n,
  apiNetwork: 'regtest',
  walletAddress: p2wpkhAddress(staker),
  finalityProviderPkHex: fpPk,
};
const check = (over: Partial<StakeCheckInput>) => checkStake({ ...base, ...over });
const only = (over: Partial<StakeCheckInput>) => {
  const r = check(over);
  expect(r.problems).toHaveLength(1);
  return r.problems[0]!;
};

describe('checkStake', () => {
  it('passes a stake within every rule and returns exactly the values it checked', () => {
    const r = check({});
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ valueSat: 200_000_000n, stakingTime: 100, feeRate: 2 });
    expect(r.version?.version).toBe(0);
  });

  it('refuses an amount below the minimum, naming both and the version', () => {
    const p = only({ amountText: '0.5' });
    expect(p).toMatchObject({ field: 'amount', code: 'AMOUNT_BELOW_MIN' });
    expect(p.message).toBe('0.5 BTC is below the minimum stake of 1 BTC under params version 0.');
  });

  it('refuses an amount above the maximum', () => {
    const p = only({ amountText: '10.00000001' });
    expect(p).toMatchObject({ code: 'AMOUNT_ABOVE_MAX' });
    expect(p.message).toBe('10.00000001 BTC is above the maximum stake of 10 BTC under params version 0.');
  });

  it('judges by the params of the NEXT height: 1.5 BTC is fine for version 0, below version 1’s minimum', () => {
    expect(check({ tipHeight: 128, amountText: '1.5' }).problems).toEqual([]);
    const p = only({ tipHeight: 129, amountText: '1.5' });
    expect(p.message).toBe('1.5 BTC is below the minimum stake of 2 BTC under params version 1.');
  });

  it.each([
    ['', 'Enter the amount to stake, in BTC.'],
    ['abc', '“abc” is not an amount in BTC: use digits and a decimal point, e.g. 1.5.'],
    ['1e3', '“1e3” is not an amount in BTC: use digits and a decimal point, e.g. 1.5.'],
    ['-1', '“-1” is not an amount in BTC: use digits and a decimal point, e.g. 1.5.'],
    ['1,5', '“1,5” is not an amount in BTC: use digits and a decimal point, e.g. 1.5.'],
    ['1.123456789', 'A BTC amount has at most 8 decimals (1 satoshi = 0.00000001 BTC).'],
    ['0', 'The amount must be more than 0 BTC.'],
  ])('refuses the amount %j with: %s', (amountText, message) => {
    expect(only({ amountText })).toEqual({ field: 'amount', code: 'AMOUNT_INVALID', message });
  });

  it('refuses a staking time below the minimum, in blocks and rough time', () => {
    const p = only({ timeText: '9' });
    expect(p).toMatchObject({ field: 'time', code: 'TIME_BELOW_MIN' });
    expect(p.message).toBe(
      '9 blocks (~1 h 30 min) is below the minimum staking time of 10 blocks (~1 h 40 min) under params version 0.',
    );
  });

  it('refuses a staking time above the maximum', () => {
    const p = only({ timeText: '1001' });
    expect(p).toMatchObject({ code: 'TIME_ABOVE_MAX' });
    expect(p.message).toBe(
      '1001 blocks (~6 days 22 h) is above the maximum staking time of 1000 blocks (~6 days 22 h) under params version 0.',
    );
  });

  it.each([
    ['', 'Enter the staking time, in blocks.'],
    ['ten', '“ten” is not a staking time: enter a whole number of blocks (about 144 a day).'],
    ['1.5', '“1.5” is not a staking time: enter a whole number of blocks (about 144 a day).'],
    ['-10', '“-10” is not a staking time: enter a whole number of blocks (about 144 a day).'],
  ])('refuses the staking time %j with: %s', (timeText, message) => {
    expect(only({ timeText })).toEqual({ field: 'time', code: 'TIME_INVALID', message });
  });

  it('refuses any stake when the cap is full (counting unconfirmed stakes)', () => {
    const p = only({ stakedSat: 1_000_000_000n });
    expect(p).toMatchObject({ field: 'cap', code: 'CAP_FULL' });
    expect(p.message).toBe(
      'The staking cap of 10 BTC is full (10 BTC staked, counting unconfirmed stakes): a new stake would be overflow and never count as active stake.',
    );
  });

  it('refuses a stake larger than what is left under the cap, and says how much is left', () => {
    const p = only({ stakedSat: 900_000_000n, amountText: '2' });
    expect(p).toMatchObject({ field: 'cap', code: 'CAP_EXCEEDED' });
    expect(p.message).toBe(
      'Only 1 BTC is left under the staking cap of 10 BTC: a stake of 2 BTC would be overflow. Stake at most 1 BTC.',
    );
    expect(check({ stakedSat: 900_000_000n, amountText: '1' }).problems).toEqual([]);
  });

  it('refuses a stake after a height-capped version’s cap height', () => {
    const { versions } = PARAMS;
    const capped = { versions: [{ ...versions[0]!, stakingCapSat: 0n, capHeight: 125 }] };
    expect(check({ params: capped, tipHeight: 124 }).problems).toEqual([]);
    const p = only({ params: capped, tipHeight: 125 });
    expect(p).toMatchObject({ field: 'cap', code: 'CAP_FULL' });
    expect(p.message).toBe(
      'Staking under params version 0 closed at its cap height 125: a stake confirmed at 126 would be overflow and never count as active stake.',
    );
  });

  it('refuses a wallet on another network, naming both networks', () => {
    const address = p2wpkhAddress(staker, 'testnet');
    const p = only({ walletAddress: address });
    expect(p).toMatchObject({ field: 'network', code: 'WRONG_NETWORK' });
    expect(p.message).toBe(
      `Your wallet's address ${address} is on testnet or signet, but this staking system runs on regtest: switch the wallet to regtest.`,
    );
    const main = p2trAddress(staker, 'mainnet');
    expect(only({ walletAddress: main }).message).toContain(
      'is on mainnet, but this staking system runs on regtest',
    );
    expect(check({ walletAddress: address, apiNetwork: 'signet' }).problems).toEqual([]);
  });

  it('says when staking opens if the next height is below the first activation', () => {
    const p = only({ tipHeight: 110 });
    expect(p).toMatchObject({ field: 'height', code: 'NOT_YET_ACTIVE' });
    expect(p.message).toBe('Staking opens at height 115, in 5 blocks (~50 min); the next block is 111.');
  });

  it('asks for a wallet and a finality provider first', () => {
    const r = check({ walletAddress: undefined, finalityProviderPkHex: undefined });
    expect(r.problems.map((p) => p.message)).toEqual([
      'Connect a wallet to stake.',
      'Pick a finality provider in the list above.',
    ]);
  });

  it.each([
    ['0.5', 'FEE_RATE_INVALID', 'Enter a fee rate of at least 1 sat/vB (nodes do not relay less).'],
    ['fast', 'FEE_RATE_INVALID', 'Enter a fee rate of at least 1 sat/vB (nodes do not relay less).'],
    ['5000', 'FEE_RATE_TOO_HIGH', '5000 sat/vB is above 1000 sat/vB: almost certainly a typo.'],
  ])('refuses the fee rate %j', (feeRateText, code, message) => {
    expect(only({ feeRateText })).toEqual({ field: 'fee', code, message });
  });

  it('notes a version change that may come before the transaction confirms, with its rules', () => {
    expect(check({ tipHeight: 120 }).notes).toEqual([]);
    expect(check({ tipHeight: 126 }).notes).toEqual([
      'Params version 1 activates at height 130, in 4 blocks (~40 min): a transaction that confirms from then on is judged by its rules (amount 2 BTC–20 BTC, time 1–5000 blocks).',
    ]);
  });
});

describe('parseBtcInput and addressNetwork', () => {
  it('converts decimal BTC to satoshis exactly (no floating point)', () => {
    expect(parseBtcInput('0.1')).toEqual({ sat: 10_000_000n });
    expect(parseBtcInput('.00000001')).toEqual({ sat: 1n });
    expect(parseBtcInput(' 20999999.99999999 ')).toEqual({ sat: 2_099_999_999_999_999n });
  });

  it('reads the network off an address prefix', () => {
    expect(addressNetwork(p2wpkhAddress(staker, 'regtest'))).toBe('regtest');
    expect(addressNetwork(p2trAddress(staker, 'mainnet'))).toBe('mainnet');
    expect(addressNetwork(p2trAddress(staker, 'testnet'))).toBe('testnet or signet');
    expect(addressNetwork('xyz')).toBeUndefined();
  });
});
