/**
 * The transactions the dashboard asks a wallet to sign, built with staking/ (the protocol) and
 * wrapped in PSBTs (what wallets sign): funding a staking transaction from the wallet's coins,
 * the unbonding request, and the timelock withdraw. After signing, everything the wallet returns is
 * checked against what was built before it is broadcast or sent to the API. Pure: no DOM, no network.
 */
import {
  address as btcAddress,
  initEccLib,
  type Network,
  networks,
  Psbt,
  type Transaction,
} from 'bitcoinjs-lib';
import {
  bytesEqual,
  CodedError,
  ecc,
  parseCompressedKey,
  parseXOnlyKey,
  toHex,
  txidToHash,
  type XOnlyKey,
  xOnlyOf,
} from '../common/index.ts';
import { assertParamsForHeight, type GlobalParams, type ParamsVersion } from '../params/index.ts';
import {
  assertStakingTxInRange,
  type BitcoinNetwork,
  buildLeafSigningPsbt,
  buildStakingOutputs,
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  type Leaf,
  leafSignatureOf,
  parseStakingTx,
  parseTransaction,
  type StakingOutputs,
  scriptPathSighash,
  txidOf,
  type UnbondingExpectation,
  type UnbondingRequestBody,
  verifySchnorr,
  verifyStakerUnbondingSignature,
} from '../staking/index.ts';
import type { WebErrorCode } from './errors.ts';
import { blocksAndTime, formatBtc } from './format.ts';

initEccLib(ecc);

const fail = (code: WebErrorCode, message: string): never => {
  throw new CodedError(code, message);
};

export function bitcoinjsNetwork(n: BitcoinNetwork): Network {
  return n === 'mainnet' ? networks.bitcoin : n === 'regtest' ? networks.regtest : networks.testnet;
}

/**
 * The staker key behind a wallet's public key: wallets hand out the 33-byte compressed key (UniSat's
 * getPublicKey) and Babylon's scripts use its x-only form; a 32-byte x-only key is taken as it is.
 * @throws {CodedError} WEB_WALLET_KEY
 */
export function stakerKeyOf(publicKeyHex: string): XOnlyKey {
  const hex = publicKeyHex.trim().toLowerCase();
  return hex.length === 66
    ? xOnlyOf(parseCompressedKey(hex, 'the wallet public key', 'WEB_WALLET_KEY'))
    : parseXOnlyKey(hex, 'the wallet public key', 'WEB_WALLET_KEY');
}

/**
 * The output script of an address of the API's network.
 * @throws {CodedError} WEB_ADDRESS
 */
export function outputScriptOf(address: string, network: BitcoinNetwork): Uint8Array {
  try {
    return btcAddress.toOutputScript(address, bitcoinjsNetwork(network));
  } catch {
    return fail('WEB_ADDRESS', `${address} is not a valid ${network} address`);
  }
}

/** A coin of the wallet, as the wallet lists it. */
export interface Utxo {
  readonly txid: string;
  readonly vout: number;
  readonly valueSat: bigint;
  readonly scriptHex: string;
}

/** What signing one input asks of the wallet: the key, and whether it is a script-path spend. */
export interface InputToSign {
  readonly index: number;
  readonly publicKeyHex: string;
  /** Script path: the wallet must sign with its untweaked key (UniSat's disableTweakSigner). */
  readonly scriptPath: boolean;
}

// Virtual sizes (vB) for fee estimates: version, locktime, counts, segwit marker; then per input
// and output kind (BIP141 weights / 4, rounded up).
const TX_OVERHEAD_VB = 11;
const P2TR_KEYPATH_INPUT_VB = 58;
const P2WPKH_INPUT_VB = 68;
const outputVbytes = (scriptLength: number) => 8 + 1 + scriptLength;
/** Below these, an output costs more to spend than it holds and nodes refuse to relay it. */
const DUST_SAT = { p2tr: 330n, p2wpkh: 294n } as const;

function walletScriptKind(script: Uint8Array): 'p2tr' | 'p2wpkh' | undefined {
  if (script.length === 34 && script[0] === 0x51 && script[1] === 0x20) return 'p2tr';
  if (script.length === 22 && script[0] === 0x00 && script[1] === 0x14) return 'p2wpkh';
  return undefined;
}

const feeFor = (vbytes: number, feeRate: number) => BigInt(Math.ceil(vbytes * feeRate));

/** A PSBT of exactly `tx`: same version, lock time, inputs (with what signing needs) and outputs. */
function psbtOf(
  tx: Transaction,
  inputs: ReadonlyArray<Omit<Parameters<Psbt['addInput']>[0], 'hash' | 'index' | 'sequence'>>,
  network: BitcoinNetwork,
): Psbt {
  const psbt = new Psbt({ network: bitcoinjsNetwork(network) });
  psbt.setVersion(tx.version);
  psbt.setLocktime(tx.locktime);
  tx.ins.forEach((input, i) => {
    psbt.addInput({ hash: input.hash, index: input.index, sequence: input.sequence, ...inputs[i] });
  });
  for (const out of tx.outs) psbt.addOutput({ script: out.script, value: out.value });
  return psbt;
}

/**
 * Parses a PSBT as wallets hand it back: hex (UniSat) or base64 (most others).
 * @throws {CodedError} WEB_PSBT_INVALID
 */
export function parsePsbt(text: string, network: BitcoinNetwork): Psbt {
  const t = text.trim();
  const opts = { network: bitcoinjsNetwork(network) };
  try {
    return /^[0-9a-fA-F]+$/.test(t) ? Psbt.fromHex(t, opts) : Psbt.fromBase64(t, opts);
  } catch {
    return fail('WEB_PSBT_INVALID', 'This is not a PSBT: paste the signed PSBT in base64 or hex.');
  }
}

export interface StakingDraft {
  readonly version: ParamsVersion;
  readonly outputs: StakingOutputs;
  /** The unsigned transaction; the signed one must have its txid. */
  readonly unsignedTx: Transaction;
  readonly psbt: Psbt;
  readonly inputsToSign: readonly InputToSign[];
  readonly feeSat: bigint;
  readonly changeSat: bigint;
}

/**
 * A staking transaction funded from the wallet's coins at its own address (largest first), with
 * change back to that address. The outputs come from staking/buildStakingOutputs and the lock time
 * from buildUnfundedStakingTx (the version's activation height − 1, so the transaction cannot
 * confirm under an earlier version); inputs signal replaceability (BIP125), which also makes the
 * lock time count.
 * @throws {CodedError} STAKING_VALUE_OUT_OF_RANGE, STAKING_TIME_OUT_OF_RANGE, WEB_ADDRESS,
 *   WEB_INSUFFICIENT_FUNDS
 */
export function buildStakingDraft(a: {
  readonly version: ParamsVersion;
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly stakingTime: number;
  readonly valueSat: bigint;
  readonly utxos: readonly Utxo[];
  readonly feeRate: number;
  readonly address: string;
  readonly publicKeyHex: string;
  readonly network: BitcoinNetwork;
}): StakingDraft {
  const outputs = buildStakingOutputs({
    params: a.version,
    stakerKey: a.stakerKey,
    fpKey: a.fpKey,
    stakingTime: a.stakingTime,
    valueSat: a.valueSat,
  });
  const tx = buildUnfundedStakingTx(outputs, a.version.activationHeight - 1);
  const ownScript = outputScriptOf(a.address, a.network);
  const kind = walletScriptKind(ownScript);
  if (!kind) {
    fail(
      'WEB_ADDRESS',
      `${a.address} is neither a taproot (P2TR) nor a native segwit (P2WPKH) address: the dashboard cannot fund from it.`,
    );
  }
  const inputVb = kind === 'p2tr' ? P2TR_KEYPATH_INPUT_VB : P2WPKH_INPUT_VB;
  const changeVb = outputVbytes(ownScript.length);
  const baseVb = TX_OVERHEAD_VB + tx.outs.reduce((n, o) => n + outputVbytes(o.script.length), 0);
  const dust = DUST_SAT[kind!];
  // Only coins at the wallet's own address: the wallet can sign those, and nothing else is touched.
  const coins = a.utxos
    .filter((u) => u.scriptHex.toLowerCase() === toHex(ownScript))
    .sort((x, y) => (x.valueSat === y.valueSat ? 0 : x.valueSat > y.valueSat ? -1 : 1));
  const chosen: Utxo[] = [];
  let total = 0n;
  let feeSat = 0n;
  let changeSat = 0n;
  let funded = false;
  for (const coin of coins) {
    chosen.push(coin);
    total += coin.valueSat;
    const vb = baseVb + chosen.length * inputVb;
    const withChange = feeFor(vb + changeVb, a.feeRate);
    if (total - a.valueSat - withChange >= dust) {
      feeSat = withChange;
      changeSat = total - a.valueSat - withChange;
      funded = true;
      break;
    }
    const without = feeFor(vb, a.feeRate);
    if (total >= a.valueSat + without) {
      // What is left is less than a change output is worth: it goes to the fee.
      feeSat = total - a.valueSat;
      funded = true;
      break;
    }
  }
  if (!funded) {
    const all = coins.reduce((s, c) => s + c.valueSat, 0n);
    const need = a.valueSat + feeFor(baseVb + Math.max(1, coins.length) * inputVb + changeVb, a.feeRate);
    fail(
      'WEB_INSUFFICIENT_FUNDS',
      `Your wallet holds ${formatBtc(all)} at ${a.address} (${coins.length} coin${coins.length === 1 ? '' : 's'}); staking ${formatBtc(a.valueSat)} at ${a.feeRate} sat/vB needs about ${formatBtc(need)}.`,
    );
  }
  for (const c of chosen) {
    tx.addInput(txidToHash(c.txid, 'WEB_WALLET_REFUSED', 'a wallet coin txid'), c.vout, 0xfffffffd);
  }
  if (changeSat > 0n) tx.addOutput(ownScript, changeSat);
  const walletXOnly = stakerKeyOf(a.publicKeyHex);
  const psbt = psbtOf(
    tx,
    chosen.map((c) => ({
      witnessUtxo: { script: ownScript, value: c.valueSat },
      ...(kind === 'p2tr' ? { tapInternalKey: walletXOnly } : {}),
    })),
    a.network,
  );
  return {
    version: a.version,
    outputs,
    unsignedTx: tx,
    psbt,
    inputsToSign: chosen.map((_, index) => ({ index, publicKeyHex: a.publicKeyHex, scriptPath: false })),
    feeSat,
    changeSat,
  };
}

/**
 * The signed staking transaction from the wallet's PSBT: inputs finalized where the wallet left
 * them signed but not finalized, then refused unless it is exactly the transaction built (same
 * txid) and still identifies as a valid staking transaction of the version.
 * @throws {CodedError} WEB_PSBT_INVALID, WEB_SIGNATURE_MISSING
 */
export function finishStakingTx(
  draft: StakingDraft,
  signedPsbt: string,
  network: BitcoinNetwork,
): Transaction {
  const psbt = parsePsbt(signedPsbt, network);
  psbt.data.inputs.forEach((input, i) => {
    if (input.finalScriptWitness || input.finalScriptSig) return;
    try {
      psbt.finalizeInput(i);
    } catch {
      fail('WEB_SIGNATURE_MISSING', `The wallet did not sign input ${i} of the staking transaction.`);
    }
  });
  let tx: Transaction;
  try {
    tx = psbt.extractTransaction();
  } catch (e) {
    return fail(
      'WEB_PSBT_INVALID',
      `The signed staking transaction cannot be extracted: ${(e as Error).message}`,
    );
  }
  return checkSignedStakingTx(draft, tx);
}

/**
 * Checks a signed staking transaction from anywhere (a PSBT, or a transaction funded and signed
 * elsewhere): it pays the staking output and the OP_RETURN the draft holds, identifies under the
 * version with staking/, and every input carries a signature.
 * @throws {CodedError} WEB_PSBT_INVALID, WEB_SIGNATURE_MISSING
 */
export function checkSignedStakingTx(
  draft: Pick<StakingDraft, 'version' | 'outputs'> & { unsignedTx?: Transaction },
  tx: Transaction,
): Transaction {
  if (draft.unsignedTx && txidOf(tx) !== txidOf(draft.unsignedTx)) {
    fail(
      'WEB_PSBT_INVALID',
      'The wallet returned another transaction than the one built (its inputs or outputs changed): nothing was broadcast.',
    );
  }
  const { stakingOutput, opReturnOutput } = draft.outputs;
  const pays = (script: Uint8Array, value: bigint) =>
    tx.outs.some((o) => bytesEqual(o.script, script) && o.value === value);
  if (!pays(stakingOutput.script, stakingOutput.valueSat) || !pays(opReturnOutput.script, 0n)) {
    fail(
      'WEB_PSBT_INVALID',
      'The signed transaction does not pay the staking output and OP_RETURN that were built: nothing was broadcast.',
    );
  }
  try {
    assertStakingTxInRange(parseStakingTx(tx, draft.version), draft.version);
  } catch (e) {
    fail(
      'WEB_PSBT_INVALID',
      `The signed transaction is not a valid staking transaction: ${(e as Error).message}`,
    );
  }
  tx.ins.forEach((input, i) => {
    if (input.witness.length === 0 && input.script.length === 0) {
      fail('WEB_SIGNATURE_MISSING', `Input ${i} of the staking transaction is not signed.`);
    }
  });
  return tx;
}

/** The parts of the API's DelegationPublic the dashboard builds from. */
export interface DelegationTxs {
  readonly staking_tx_hash_hex: string;
  readonly staker_pk_hex: string;
  readonly staking_tx: {
    readonly tx_hex: string;
    readonly output_index: number;
    readonly start_height: number;
  };
  readonly unbonding_tx?: {
    readonly tx_hex: string;
    readonly output_index: number;
    readonly start_height: number;
  };
}

interface Identified {
  readonly version: ParamsVersion;
  readonly exp: UnbondingExpectation;
  readonly stakingLeaves: { readonly timelock: Leaf; readonly unbonding: Leaf };
  readonly stakingTime: number;
  readonly stakerKey: XOnlyKey;
}

/** Re-identifies a delegation's staking tx with staking/ under the params of its height (never trusts the API's fields). */
function identify(d: DelegationTxs, params: GlobalParams): Identified {
  const version = assertParamsForHeight(params, d.staking_tx.start_height);
  const stx = parseTransaction(d.staking_tx.tx_hex, 'staking_tx.tx_hex');
  if (txidOf(stx) !== d.staking_tx_hash_hex) {
    fail('WEB_PSBT_INVALID', 'The API sent a staking transaction whose txid is not the delegation’s hash.');
  }
  const data = parseStakingTx(stx, version);
  return {
    version,
    exp: expectUnbonding(d.staking_tx_hash_hex, data, version),
    stakingLeaves: data.stakingInfo,
    stakingTime: data.stakingTime,
    stakerKey: data.stakerKey,
  };
}

/** The staker's BIP340 signature for a leaf, out of the signed PSBT's one input, with the page's wording. */
function leafSignature(psbt: Psbt, key: XOnlyKey, leafHash: Uint8Array, what: string): Uint8Array {
  const signature = leafSignatureOf(psbt, key, leafHash);
  if (!signature) {
    return fail(
      'WEB_SIGNATURE_MISSING',
      psbt.data.inputs[0]?.finalScriptWitness
        ? `The wallet finalized the ${what} input instead of returning its signature: sign again without finalizing.`
        : `The signed PSBT has no signature of your key for the ${what} leaf.`,
    );
  }
  if (signature.length !== 64) {
    fail(
      'WEB_SIGNATURE_INVALID',
      `The wallet signed the ${what} with an explicit sighash type; it must use SIGHASH_DEFAULT (a 64-byte signature).`,
    );
  }
  return signature;
}

export interface UnbondingDraft {
  readonly tx: Transaction;
  readonly psbt: Psbt;
  readonly exp: UnbondingExpectation;
  readonly stakerKey: XOnlyKey;
  readonly inputsToSign: readonly InputToSign[];
}

/**
 * The unbonding transaction of a delegation (staking/buildUnbondingTx under the params of its
 * staking height) as a PSBT whose one input carries the unbonding leaf for the staker to sign.
 */
export function buildUnbondingDraft(
  d: DelegationTxs,
  params: GlobalParams,
  network: BitcoinNetwork,
  publicKeyHex: string,
): UnbondingDraft {
  const id = identify(d, params);
  const tx = buildUnbondingTx(id.exp);
  const leaf = id.stakingLeaves.unbonding;
  const psbt = buildLeafSigningPsbt({
    tx,
    prevout: { script: id.exp.stakingPkScript, valueSat: id.exp.stakingValueSat },
    leaf,
    network: bitcoinjsNetwork(network),
  });
  return {
    tx,
    psbt,
    exp: id.exp,
    stakerKey: id.stakerKey,
    inputsToSign: [{ index: 0, publicKeyHex, scriptPath: true }],
  };
}

/**
 * The unbonding request from the wallet's signed PSBT; the signature is verified here first, so a
 * wrong key or a wrong sighash is a message on the page, not a refusal from the API.
 * @throws {CodedError} WEB_PSBT_INVALID, WEB_SIGNATURE_MISSING, WEB_SIGNATURE_INVALID
 */
export function unbondingRequest(
  draft: UnbondingDraft,
  signedPsbt: string,
  network: BitcoinNetwork,
): UnbondingRequestBody {
  const psbt = parsePsbt(signedPsbt, network);
  const sig = leafSignature(psbt, draft.stakerKey, draft.exp.unbondingLeafHash, 'unbonding');
  if (!verifyStakerUnbondingSignature(draft.tx, draft.exp, draft.stakerKey, sig)) {
    fail(
      'WEB_SIGNATURE_INVALID',
      'The wallet’s signature does not verify for your staker key over the unbonding transaction.',
    );
  }
  return {
    staking_tx_hash_hex: draft.exp.stakingTxid,
    unbonding_tx_hash_hex: txidOf(draft.tx),
    unbonding_tx_hex: draft.tx.toHex(),
    staker_signed_signature_hex: toHex(sig),
  };
}

export interface WithdrawDraft {
  readonly tx: Transaction;
  readonly psbt: Psbt;
  readonly leaf: Leaf;
  readonly prevout: { readonly script: Uint8Array; readonly valueSat: bigint };
  readonly stakerKey: XOnlyKey;
  readonly feeSat: bigint;
  readonly fromUnbonding: boolean;
  readonly inputsToSign: readonly InputToSign[];
}

/** First height at which a timelocked output can be spent (BIP68: confirmed height + lock). */
export function unlockHeight(startHeight: number, timelock: number): number {
  return startHeight + timelock;
}

/**
 * A withdraw through the timelock leaf to the wallet's address: from the unbonding output when the
 * delegation has an unbonding tx, else from the staking output (staking/buildTimelockWithdrawTx).
 * @throws {CodedError} WEB_TIMELOCK_NOT_REACHED, WEB_ADDRESS, STAKING_INVALID_ARGUMENT (fee above value)
 */
export function buildWithdrawDraft(a: {
  readonly delegation: DelegationTxs;
  readonly params: GlobalParams;
  readonly network: BitcoinNetwork;
  readonly tipHeight: number;
  readonly toAddress: string;
  readonly feeRate: number;
  readonly publicKeyHex: string;
}): WithdrawDraft {
  const id = identify(a.delegation, a.params);
  const u = a.delegation.unbonding_tx;
  let prev: { txid: string; vout: number; script: Uint8Array; valueSat: bigint };
  let leaf: Leaf;
  let lock: number;
  let start: number;
  if (u) {
    const utx = parseTransaction(u.tx_hex, 'unbonding_tx.tx_hex');
    const out = utx.outs[u.output_index];
    if (!out || !bytesEqual(out.script, id.exp.unbondingInfo.pkScript)) {
      fail(
        'WEB_PSBT_INVALID',
        'The API’s unbonding transaction does not pay the unbonding output of this stake.',
      );
    }
    prev = { txid: txidOf(utx), vout: u.output_index, script: out!.script, valueSat: out!.value };
    leaf = id.exp.unbondingInfo.timelock;
    lock = id.version.unbondingTime;
    start = u.start_height;
  } else {
    prev = {
      txid: a.delegation.staking_tx_hash_hex,
      vout: a.delegation.staking_tx.output_index,
      script: id.exp.stakingPkScript,
      valueSat: id.exp.stakingValueSat,
    };
    leaf = id.stakingLeaves.timelock;
    lock = id.stakingTime;
    start = a.delegation.staking_tx.start_height;
  }
  const unlock = unlockHeight(start, lock);
  if (a.tipHeight + 1 < unlock) {
    fail(
      'WEB_TIMELOCK_NOT_REACHED',
      `The timelock ends at height ${unlock}: a withdraw can confirm from then on, in ${blocksAndTime(unlock - a.tipHeight - 1)}.`,
    );
  }
  const outScript = outputScriptOf(a.toAddress, a.network);
  // One script-path input: outpoint, empty scriptSig, sequence (41 B); witness: count, signature,
  // leaf script and control block, each with its length (a quarter of the weight).
  const witnessBytes = 1 + 65 + 1 + leaf.script.length + 1 + leaf.controlBlock.length;
  const vbytes = TX_OVERHEAD_VB + 41 + Math.ceil(witnessBytes / 4) + outputVbytes(outScript.length);
  const feeSat = feeFor(vbytes, a.feeRate);
  const tx = buildTimelockWithdrawTx({
    prevTxid: prev.txid,
    prevVout: prev.vout,
    timelockBlocks: lock,
    prevValueSat: prev.valueSat,
    feeSat,
    outputScript: outScript,
  });
  const psbt = buildLeafSigningPsbt({
    tx,
    prevout: { script: prev.script, valueSat: prev.valueSat },
    leaf,
    network: bitcoinjsNetwork(a.network),
  });
  return {
    tx,
    psbt,
    leaf,
    prevout: { script: prev.script, valueSat: prev.valueSat },
    stakerKey: id.stakerKey,
    feeSat,
    fromUnbonding: u !== undefined,
    inputsToSign: [{ index: 0, publicKeyHex: a.publicKeyHex, scriptPath: true }],
  };
}

/**
 * The broadcastable withdraw: the staker's signature from the PSBT, verified, in the timelock
 * witness (staking/buildTimelockWitness).
 * @throws {CodedError} WEB_PSBT_INVALID, WEB_SIGNATURE_MISSING, WEB_SIGNATURE_INVALID
 */
export function finishWithdraw(
  draft: WithdrawDraft,
  signedPsbt: string,
  network: BitcoinNetwork,
): Transaction {
  const psbt = parsePsbt(signedPsbt, network);
  const sig = leafSignature(psbt, draft.stakerKey, draft.leaf.leafHash, 'withdraw');
  const sighash = scriptPathSighash(
    draft.tx,
    0,
    { pkScripts: [draft.prevout.script], valuesSat: [draft.prevout.valueSat] },
    draft.leaf,
  );
  if (!verifySchnorr(sighash, draft.stakerKey, sig)) {
    fail(
      'WEB_SIGNATURE_INVALID',
      'The wallet’s signature does not verify for your staker key over the withdraw.',
    );
  }
  const tx = draft.tx.clone();
  tx.setWitness(0, buildTimelockWitness(sig, draft.leaf));
  return tx;
}
