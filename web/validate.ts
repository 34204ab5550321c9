/**
 * The stake form's checks, as pure functions: what a person typed, against the params that apply at
 * the next height, the cap and the wallet's network. Each problem is one sentence that says what is
 * wrong and what would be right. staking/buildStakingOutputs checks amount and time again when the
 * transaction is built; these checks exist to say it in words before anything is signed.
 */
import { type GlobalParams, isOverflow, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import type { BitcoinNetwork } from '../staking/index.ts';
import { blocksAndTime, formatBtc } from './format.ts';

export type StakeField = 'amount' | 'time' | 'height' | 'cap' | 'network' | 'wallet' | 'provider' | 'fee';

export interface StakeProblem {
  readonly field: StakeField;
  readonly code: string;
  readonly message: string;
}

export interface StakeCheckInput {
  readonly params: GlobalParams;
  /** The indexer's last reported tip; the transaction can confirm at tip + 1 at the earliest. */
  readonly tipHeight: number;
  readonly amountText: string;
  readonly timeText: string;
  readonly feeRateText: string;
  /** Satoshis staked counting unconfirmed blocks (the indexer's unconfirmed TVL). */
  readonly stakedSat: bigint;
  readonly apiNetwork: BitcoinNetwork;
  /** The connected wallet's address; undefined when no wallet is connected. */
  readonly walletAddress: string | undefined;
  readonly finalityProviderPkHex: string | undefined;
}

export interface StakeCheck {
  /** The params version in force at the next height, if any. */
  readonly version: ParamsVersion | undefined;
  readonly valueSat: bigint | undefined;
  readonly stakingTime: number | undefined;
  readonly feeRate: number | undefined;
  readonly problems: readonly StakeProblem[];
  /** True conditions worth knowing that do not block staking (a version change is near). */
  readonly notes: readonly string[];
}

const SAT_PER_BTC = 100_000_000n;
/** A version change this close may come before the transaction confirms. */
const VERSION_CHANGE_WARNING_BLOCKS = 6;
/** Above this, a fee rate is far more likely a typo than an intent. */
export const MAX_FEE_RATE = 1000;

/** A fee rate typed by a person (the stake form's, and the withdraw's own). */
export function checkFeeRate(text: string): { feeRate: number } | { problem: StakeProblem } {
  const f = text.trim();
  if (!/^\d+(?:\.\d+)?$/.test(f) || Number(f) < 1) {
    return {
      problem: {
        field: 'fee',
        code: 'FEE_RATE_INVALID',
        message: 'Enter a fee rate of at least 1 sat/vB (nodes do not relay less).',
      },
    };
  }
  if (Number(f) > MAX_FEE_RATE) {
    return {
      problem: {
        field: 'fee',
        code: 'FEE_RATE_TOO_HIGH',
        message: `${f} sat/vB is above ${MAX_FEE_RATE} sat/vB: almost certainly a typo.`,
      },
    };
  }
  return { feeRate: Number(f) };
}

/**
 * Parses a BTC amount typed by a person ("1", "0.5", "2.00000001") to satoshis, exactly: decimal
 * digits only, at most 8 decimals, no exponent, no sign, no thousands separator.
 */
export function parseBtcInput(text: string): { sat: bigint } | { error: string } {
  const t = text.trim();
  if (t === '') return { error: 'Enter the amount to stake, in BTC.' };
  const m = /^(\d{1,8})?(?:\.(\d*))?$/.exec(t);
  if (!m || (m[1] === undefined && (m[2] ?? '') === '')) {
    return { error: `“${t}” is not an amount in BTC: use digits and a decimal point, e.g. 1.5.` };
  }
  const frac = m[2] ?? '';
  if (frac.length > 8) return { error: 'A BTC amount has at most 8 decimals (1 satoshi = 0.00000001 BTC).' };
  const sat = BigInt(m[1] ?? '0') * SAT_PER_BTC + BigInt(frac.padEnd(8, '0'));
  if (sat === 0n) return { error: 'The amount must be more than 0 BTC.' };
  return { sat };
}

/** The network an address belongs to, from its prefix; undefined when it has none we know. */
export function addressNetwork(address: string): 'mainnet' | 'testnet or signet' | 'regtest' | undefined {
  const a = address.toLowerCase();
  // bcrt1 first: it also starts with "bc".
  if (a.startsWith('bcrt1')) return 'regtest';
  if (a.startsWith('bc1') || /^[13]/.test(address)) return 'mainnet';
  if (a.startsWith('tb1') || /^[mn2]/.test(address)) return 'testnet or signet';
  return undefined;
}

/** Whether an address's network is the API's. */
export function addressMatchesNetwork(address: string, network: BitcoinNetwork): boolean {
  const n = addressNetwork(address);
  if (network === 'testnet' || network === 'signet') return n === 'testnet or signet';
  return n === network;
}

/**
 * Every check of the stake form, in the order a person fixes them. Returns the parsed values that
 * passed, so the caller builds exactly what was checked.
 */
export function checkStake(i: StakeCheckInput): StakeCheck {
  const problems: StakeProblem[] = [];
  const notes: string[] = [];
  const next = i.tipHeight + 1;
  const version = selectParamsForHeight(i.params, next);

  if (i.walletAddress === undefined) {
    problems.push({ field: 'wallet', code: 'NO_WALLET', message: 'Connect a wallet to stake.' });
  } else if (!addressMatchesNetwork(i.walletAddress, i.apiNetwork)) {
    const theirs = addressNetwork(i.walletAddress) ?? 'an unknown network';
    problems.push({
      field: 'network',
      code: 'WRONG_NETWORK',
      message: `Your wallet's address ${i.walletAddress} is on ${theirs}, but this staking system runs on ${i.apiNetwork}: switch the wallet to ${i.apiNetwork}.`,
    });
  }
  if (i.finalityProviderPkHex === undefined) {
    problems.push({
      field: 'provider',
      code: 'NO_FINALITY_PROVIDER',
      message: 'Pick a finality provider in the list above.',
    });
  }

  if (!version) {
    const first = i.params.versions[0]!;
    problems.push({
      field: 'height',
      code: 'NOT_YET_ACTIVE',
      message: `Staking opens at height ${first.activationHeight}, in ${blocksAndTime(first.activationHeight - i.tipHeight)}; the next block is ${next}.`,
    });
  }
  const range = version ? ` under params version ${version.version}` : '';

  let valueSat: bigint | undefined;
  const amount = parseBtcInput(i.amountText);
  if ('error' in amount) {
    problems.push({ field: 'amount', code: 'AMOUNT_INVALID', message: amount.error });
  } else if (version) {
    if (amount.sat < version.minStakingAmountSat) {
      problems.push({
        field: 'amount',
        code: 'AMOUNT_BELOW_MIN',
        message: `${formatBtc(amount.sat)} is below the minimum stake of ${formatBtc(version.minStakingAmountSat)}${range}.`,
      });
    } else if (amount.sat > version.maxStakingAmountSat) {
      problems.push({
        field: 'amount',
        code: 'AMOUNT_ABOVE_MAX',
        message: `${formatBtc(amount.sat)} is above the maximum stake of ${formatBtc(version.maxStakingAmountSat)}${range}.`,
      });
    } else {
      valueSat = amount.sat;
    }
  }

  let stakingTime: number | undefined;
  const t = i.timeText.trim();
  if (!/^\d{1,6}$/.test(t)) {
    problems.push({
      field: 'time',
      code: 'TIME_INVALID',
      message:
        t === ''
          ? 'Enter the staking time, in blocks.'
          : `“${t}” is not a staking time: enter a whole number of blocks (about 144 a day).`,
    });
  } else if (version) {
    const n = Number(t);
    if (n < version.minStakingTime) {
      problems.push({
        field: 'time',
        code: 'TIME_BELOW_MIN',
        message: `${blocksAndTime(n)} is below the minimum staking time of ${blocksAndTime(version.minStakingTime)}${range}.`,
      });
    } else if (n > version.maxStakingTime) {
      problems.push({
        field: 'time',
        code: 'TIME_ABOVE_MAX',
        message: `${blocksAndTime(n)} is above the maximum staking time of ${blocksAndTime(version.maxStakingTime)}${range}.`,
      });
    } else {
      stakingTime = n;
    }
  }

  if (version) checkCap(version, next, i.stakedSat, valueSat, problems);

  const fee = checkFeeRate(i.feeRateText);
  if ('problem' in fee) problems.push(fee.problem);
  const feeRate = 'feeRate' in fee ? fee.feeRate : undefined;

  if (version) {
    const following = i.params.versions.find((v) => v.version === version.version + 1);
    if (following && following.activationHeight - next < VERSION_CHANGE_WARNING_BLOCKS) {
      notes.push(
        `Params version ${following.version} activates at height ${following.activationHeight}, in ${blocksAndTime(following.activationHeight - i.tipHeight)}: a transaction that confirms from then on is judged by its rules (amount ${formatBtc(following.minStakingAmountSat)}–${formatBtc(following.maxStakingAmountSat)}, time ${following.minStakingTime}–${following.maxStakingTime} blocks).`,
      );
    }
  }
  return { version, valueSat, stakingTime, feeRate, problems, notes };
}

/**
 * Babylon counts a stake beyond the cap as overflow: it is locked like any other, but never becomes
 * active stake. The indexer decides that from confirmed blocks with params/'s `isOverflow`; the
 * page asks the same rule, counting unconfirmed stakes too, since they confirm before this one.
 */
function checkCap(
  v: ParamsVersion,
  next: number,
  stakedSat: bigint,
  valueSat: bigint | undefined,
  problems: StakeProblem[],
): void {
  if (isOverflow(v, next, stakedSat)) {
    problems.push({
      field: 'cap',
      code: 'CAP_FULL',
      message:
        v.capHeight !== 0
          ? `Staking under params version ${v.version} closed at its cap height ${v.capHeight}: a stake confirmed at ${next} would be overflow and never count as active stake.`
          : `The staking cap of ${formatBtc(v.stakingCapSat)} is full (${formatBtc(stakedSat)} staked, counting unconfirmed stakes): a new stake would be overflow and never count as active stake.`,
    });
    return;
  }
  // Beyond the rule, on purpose: a stake that crosses a value cap is still active by itself, but
  // any stake confirming before it turns it into overflow, so the page asks for at most what is left.
  const left = v.stakingCapSat - stakedSat;
  if (v.capHeight === 0 && valueSat !== undefined && valueSat > left) {
    problems.push({
      field: 'cap',
      code: 'CAP_EXCEEDED',
      message: `Only ${formatBtc(left)} is left under the staking cap of ${formatBtc(v.stakingCapSat)}: a stake of ${formatBtc(valueSat)} would be overflow. Stake at most ${formatBtc(left)}.`,
    });
  }
}
