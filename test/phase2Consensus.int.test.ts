import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { address as btcAddress, networks, type Transaction } from 'bitcoinjs-lib';
import * as ecc from 'tiny-secp256k1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { btcToSat } from '../bitcoind/index.ts';
import { compareBytes, concatBytes, parseHex, toHex, type XOnlyKey } from '../common/index.ts';
import {
  assertPhase2Version,
  type Phase2Params,
  parsePhase2ParamsVersions,
  slashingAmountSat,
} from '../params/index.ts';
import {
  babylonDecryptionKey,
  babylonEncryptionKey,
  buildSlashingChangeOutput,
  buildSlashingWitness,
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingWitness,
  type CovenantSignature,
  decryptAdaptorSignature,
  extractDecryptionKey,
  fundingOutputOf,
  type Leaf,
  parseAdaptorSignature,
  type SignTransactionsRequestBody,
  type SignTransactionsResponse,
  scriptPathSighash,
  slashingSighash,
  verifyAdaptorSignature,
  verifySchnorr,
} from '../staking/index.ts';
import { newFileCustody, type TestFileCustody } from './infra/fileCustody.ts';
import { MtlsClient } from './infra/mtlsClient.ts';
import {
  buildPhase2Delegation,
  type Chain,
  mempoolVerdict,
  mine,
  type Phase2Delegation,
  phase2ParamsDoc,
  sendAndMine,
} from './infra/phase2Delegation.ts';
import { type Committee, startCommittee } from './infra/signerHarness.ts';
import { type TestKey, testKey } from './keys.ts';

/**
 * Issue 22's consensus proof: Babylon's phase-2 slashing works on a real Bitcoin node with what our
 * signers return. The covenant committee (three running signers, each with its own file-custody
 * key, asked over mutual TLS) adaptor-signs a delegation's slashing txs, encrypted to the finality
 * provider's key; the provider's secret (its EOTS key leaks when it double-signs; here it is its
 * BTC key) decrypts a quorum of them; with the staker's and the provider's own signatures the slashing txs are
 * consensus-valid and pay slashing_pk_script; and each published covenant signature reveals the
 * provider's secret.
 */

const STAKER = 'p2-staker';
const staker = testKey(STAKER);
// Chosen with an odd-y public key, so the even-y lift of the encryption key is exercised on chain.
const fp = testKey('p2-fp');

/** A member's answer, with the key it signed with (the caller knows which signer it asked). */
interface MemberSignatures {
  readonly key: XOnlyKey;
  readonly response: SignTransactionsResponse;
}

let c: Committee;
let chain: Chain;
/** The covenant committee of version 1: the keys the running signers' custodies hold. */
let committee: XOnlyKey[];
let custodies: TestFileCustody[] = [];
let clients: MtlsClient[] = [];
let params: Phase2Params;
let slashingAddress: string;

/**
 * The committee's answers to `POST /v1/sign-transactions` for `request` (phase2-covenant.md §4):
 * every member's real signer, over mutual TLS with the client certificate the emulator's sidecar
 * would present, checks the request against its own node and params and signs with its custody.
 * All members are asked, as the emulator asks the whole committee; the tests then pick quorums.
 */
async function covenantAdaptorSignatures(request: SignTransactionsRequestBody): Promise<MemberSignatures[]> {
  return Promise.all(
    c.members.map(async (m, i): Promise<MemberSignatures> => {
      const r = await clients[i]!.call('POST', '/v1/sign-transactions', request);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return { key: m.key, response: (r.json as { data: SignTransactionsResponse }).data };
    }),
  );
}

beforeAll(async () => {
  // One custody per signer: each signer has its own key and its own audit log.
  custodies = await Promise.all(['a', 'b', 'c'].map((x) => newFileCustody(`p2c-cov-${x}-`)));
  c = await startCommittee({
    custodies: custodies.map((f) => f.custody),
    quorum: 2,
    // The params name the tip's height and a wallet address, so they are written once the chain is up.
    beforeSigners: async ({ node, wallet, dir }) => {
      slashingAddress = await wallet.getnewaddress('slashed', 'bech32');
      const slashingPkScript = btcAddress.toOutputScript(slashingAddress, networks.regtest);
      // Version 0 (another committee) is in force before this chain's tip; version 1, ours, from the
      // next block, so every stake below must select version 1 by its inclusion height.
      const tip = await node.rpc.getblockcount();
      const common = {
        max_staking_time_blocks: 65535,
        slashing_pk_script: Buffer.from(slashingPkScript).toString('base64'),
        unbonding_time_blocks: 5,
      };
      committee = await Promise.all(custodies.map(async (f) => (await f.custody.publicKeys())[0]!));
      const doc = phase2ParamsDoc(
        committee,
        { ...common, covenant_pks: [toHex(testKey('p2c-old-cov').xOnly)], covenant_quorum: 1 },
        { ...common, covenant_quorum: 2, btc_activation_height: tip + 1 },
      );
      params = parsePhase2ParamsVersions(JSON.stringify(doc));
      const file = join(dir, 'phase2-params.json');
      writeFileSync(file, JSON.stringify(doc));
      return { SIGNER__PHASE2__ENABLED: 'true', SIGNER__PHASE2__PARAMS_FILE: file };
    },
  });
  chain = c;
  clients = c.members.map(
    (m) => new MtlsClient(m.signer!.url, { caFile: c.pki.ca.cert, identity: c.pki.clients.pipeline! }),
  );
});
afterAll(async () => {
  for (const client of clients) client.close();
  await c?.stop();
  for (const f of custodies) await f.close();
});

/**
 * Stakes `valueSat` for 1000 blocks to `fps` with the params in force at the next block's height,
 * and checks that the height the staking tx was mined at selects that same version.
 */
async function stake(fps: readonly TestKey[], valueSat: bigint): Promise<Phase2Delegation> {
  const v = assertPhase2Version(params, (await chain.node.rpc.getblockcount()) + 1);
  const d = await buildPhase2Delegation(v, {
    chain,
    stakerLabel: STAKER,
    fps,
    stakingTime: 1000,
    valueSat,
  });
  expect(assertPhase2Version(params, d.inclusionHeight!).version).toBe(v.version);
  return d;
}

const fpKeys = (d: Phase2Delegation): XOnlyKey[] => d.fps.map((f) => f.xOnly);

/** A slashing tx and the output it spends through the funding output's slashing leaf. */
interface SlashingPath {
  readonly tx: Transaction;
  readonly leaf: Leaf;
  /** What the covenants pre-sign and the staker and the FP sign. */
  readonly sighash: Uint8Array;
  readonly fundingValueSat: bigint;
  /** The finality provider being slashed, whose key the pre-signatures below are encrypted to. */
  readonly slashed: TestKey;
  readonly presigs: ReadonlyMap<string, Uint8Array>;
}

/**
 * The slashing tx of the staking output, or the unbonding-slashing tx, with every member's
 * pre-signature for it encrypted to `slashed`'s key. Every pre-signature (one per FP, in the order
 * of fp_enc_keys) is checked as the chain checks them before accepting covenant signatures:
 * verification under the member's key, the sighash and that FP's even-y encryption key.
 */
function slashingPath(
  d: Phase2Delegation,
  which: 'staking' | 'unbonding',
  answers: readonly MemberSignatures[],
  slashed: TestKey = fp,
): SlashingPath {
  const [tx, fundingTx, idx, leaf, field] =
    which === 'staking'
      ? [
          d.slashingTx,
          d.stakingTx,
          d.stakingOutputIdx,
          d.stakingInfo.slashing,
          'slashing_transactions_signatures',
        ]
      : [
          d.slashUnbondingTx,
          d.unbondingTx,
          0,
          d.unbondingInfo.slashing,
          'slash_unbonding_transactions_signatures',
        ];
  const sighash = slashingSighash(tx, fundingTx, idx, leaf);
  const slashedIndex = d.fps.findIndex((f) => toHex(f.xOnly) === toHex(slashed.xOnly));
  expect(slashedIndex).toBeGreaterThanOrEqual(0);
  const presigs = new Map<string, Uint8Array>();
  for (const { key, response } of answers) {
    const list = response[field as keyof SignTransactionsResponse] as readonly string[];
    expect(list).toHaveLength(d.fps.length);
    const parsed = list.map((h) => parseHex(h, 'presig', 'TEST_BAD_HEX'));
    parsed.forEach((presig, i) => {
      expect(verifyAdaptorSignature(key, sighash, babylonEncryptionKey(d.fps[i]!.xOnly), presig)).toBe(true);
    });
    presigs.set(toHex(key), parsed[slashedIndex]!);
  }
  return {
    tx,
    leaf,
    sighash,
    fundingValueSat: fundingOutputOf(fundingTx, idx).valueSat,
    slashed,
    presigs,
  };
}

/** Decrypts the pre-signatures of `signers` with the slashed FP's secret into BIP340 signatures. */
function decryptQuorum(
  path: SlashingPath,
  signers: readonly XOnlyKey[],
  secret: Uint8Array,
): CovenantSignature[] {
  return signers.map((m) => ({
    key: m,
    signature: decryptAdaptorSignature(path.presigs.get(toHex(m))!, secret),
  }));
}

/** The slashing tx with the witness of `covenantSignatures`, the slashed FP's and the staker's signatures. */
function signedSlashingTx(d: Phase2Delegation, path: SlashingPath, covenantSignatures: CovenantSignature[]) {
  const tx = path.tx.clone();
  tx.ins[0]!.witness = buildSlashingWitness({
    covenantKeys: d.params.covenantKeys,
    quorum: d.params.covenantQuorum,
    covenantSignatures,
    fpKeys: fpKeys(d),
    fpSignature: { key: path.slashed.xOnly, signature: path.slashed.sign(path.sighash) },
    stakerSignature: staker.sign(path.sighash),
    leaf: path.leaf,
  });
  return tx;
}

/** A copy of `tx` whose witness has `item` at `slot` (bitcoinjs's clone shares the witness array). */
function withWitnessItem(tx: Transaction, slot: number, item: Uint8Array): Transaction {
  const copy = tx.clone();
  const witness = [...tx.ins[0]!.witness];
  witness[slot] = item;
  copy.ins[0]!.witness = witness;
  return copy;
}

/** Where a covenant's slot is in the witness: keys in descending order (§2.4). */
function slotOf(d: Phase2Delegation, key: XOnlyKey): number {
  const descending = [...d.params.covenantKeys].sort(compareBytes).reverse();
  return descending.findIndex((k) => toHex(k) === toHex(key));
}

/**
 * After the slashing tx is mined: its slashing output pays slashing_pk_script exactly the amount
 * Babylon's rule gives, and every covenant signature it published, with that member's
 * pre-signature, yields the slashed FP's secret.
 */
async function expectSlashedOnChain(
  d: Phase2Delegation,
  path: SlashingPath,
  mined: Transaction,
): Promise<void> {
  const out = await chain.node.rpc.gettxout(mined.getId(), 0, false);
  expect(out?.confirmations).toBe(1);
  expect(out?.scriptPubKey.hex).toBe(toHex(d.params.slashingPkScript));
  expect(out?.scriptPubKey.address).toBe(slashingAddress);
  const expected = slashingAmountSat(path.fundingValueSat, d.params.slashingRate);
  expect(btcToSat(out!.value)).toBe(expected);

  const witness = mined.ins[0]!.witness;
  const published = committee.filter((m) => witness[slotOf(d, m)]!.length === 64);
  expect(published).toHaveLength(d.params.covenantQuorum);
  for (const m of published) {
    const t = extractDecryptionKey(path.presigs.get(toHex(m))!, witness[slotOf(d, m)]!);
    expect(toHex(t)).toBe(toHex(babylonDecryptionKey(path.slashed.privateKey)));
    // The extracted scalar is the FP's key: anyone can now sign as the FP.
    const forged = ecc.signSchnorr(new Uint8Array(32).fill(0x5a), t, new Uint8Array(32));
    expect(verifySchnorr(new Uint8Array(32).fill(0x5a), path.slashed.xOnly, forged)).toBe(true);
  }
}

/**
 * The slashing tx's change output (out[1]) is the staker's after unbonding_time blocks, through
 * the change output's single timelock leaf, and not a block earlier (BIP68).
 */
async function expectStakerRecoversChange(d: Phase2Delegation, slashing: Transaction, height: number) {
  const change = buildSlashingChangeOutput(d.staker.xOnly, d.params.unbondingTimeBlocks);
  expect(toHex(slashing.outs[1]!.script)).toBe(toHex(change.pkScript));
  const valueSat = slashing.outs[1]!.value;
  const withdraw = buildTimelockWithdrawTx({
    prevTxid: slashing.getId(),
    prevVout: 1,
    timelockBlocks: d.params.unbondingTimeBlocks,
    prevValueSat: valueSat,
    feeSat: 1_000n,
    outputScript: btcAddress.toOutputScript(await chain.wallet.getnewaddress('', 'bech32'), networks.regtest),
  });
  const sighash = scriptPathSighash(
    withdraw,
    0,
    { pkScripts: [change.pkScript], valuesSat: [valueSat] },
    change.timelock,
  );
  withdraw.ins[0]!.witness = buildTimelockWitness(staker.sign(sighash), change.timelock);
  // In the mempool once the tip is height + T − 1 (the next block is the first BIP68 allows).
  await mine(chain, d.params.unbondingTimeBlocks - 2);
  const early = await mempoolVerdict(chain, withdraw);
  expect(early.allowed).toBe(false);
  expect(early.reason).toMatch(/non-BIP68-final/);
  await mine(chain);
  expect(await chain.node.rpc.getblockcount()).toBe(height + d.params.unbondingTimeBlocks - 1);
  expect(await mempoolVerdict(chain, withdraw)).toEqual({ allowed: true, reason: '' });
  await sendAndMine(chain, withdraw);
}

describe('phase-2 slashing on a real node (issue 22)', () => {
  it('the params select version 1 and the FP key has odd y', () => {
    expect(params.versions.map((v) => v.covenantQuorum)).toEqual([1, 2]);
    expect(fp.compressedHex.slice(0, 2)).toBe('03');
  });

  it('slashes a staking output: a decrypted covenant quorum + FP + staker spend the slashing leaf', async () => {
    // 123_457 × 0.1 = 12_345.7: Babylon rounds half-up to 12_346, where a floor would give 12_345.
    const d = await stake([fp], 123_457n);
    expect(d.params.version).toBe(1);
    const path = slashingPath(d, 'staking', await covenantAdaptorSignatures(d.body));
    const secret = babylonDecryptionKey(fp.privateKey);
    const signers = [committee[0]!, committee[2]!];
    const covSigs = decryptQuorum(path, signers, secret);
    for (const s of covSigs) expect(verifySchnorr(path.sighash, s.key, s.signature)).toBe(true);
    const good = signedSlashingTx(d, path, covSigs);
    expect(good.outs[0]!.value).toBe(12_346n);

    // A pre-signature is not a signature: neither its 65 bytes (the node reads the last byte as a
    // sighash type, so the reason is "… hash type" unless that byte happens to be a valid type) nor
    // x(R0) ‖ s0 pass OP_CHECKSIGADD.
    const presig0 = path.presigs.get(toHex(signers[0]!))!;
    const raw = withWitnessItem(good, slotOf(d, signers[0]!), presig0);
    const rawVerdict = await mempoolVerdict(chain, raw);
    expect(rawVerdict.allowed).toBe(false);
    expect(rawVerdict.reason).toMatch(/Invalid Schnorr signature/);

    const { r0, s } = parseAdaptorSignature(presig0);
    const undecrypted = withWitnessItem(good, slotOf(d, signers[0]!), concatBytes(r0.subarray(1), s));
    const undecryptedVerdict = await mempoolVerdict(chain, undecrypted);
    expect(undecryptedVerdict.allowed).toBe(false);
    expect(undecryptedVerdict.reason).toMatch(/Invalid Schnorr signature/);

    // The FP's raw secret of an odd-y key is the wrong decryption key (Babylon lifts to even y).
    const wrongKey = signedSlashingTx(d, path, decryptQuorum(path, signers, fp.privateKey));
    const wrongKeyVerdict = await mempoolVerdict(chain, wrongKey);
    expect(wrongKeyVerdict.allowed).toBe(false);
    expect(wrongKeyVerdict.reason).toMatch(/Invalid Schnorr signature/);

    // One covenant signature short of the quorum: OP_NUMEQUAL leaves false.
    const short = withWitnessItem(good, slotOf(d, signers[1]!), new Uint8Array(0));
    const shortVerdict = await mempoolVerdict(chain, short);
    expect(shortVerdict.allowed).toBe(false);
    expect(shortVerdict.reason).toMatch(/false\/empty top stack element/);

    expect(await mempoolVerdict(chain, good)).toEqual({ allowed: true, reason: '' });
    const { tx: mined, height } = await sendAndMine(chain, good);
    expect(mined.getId()).toBe(good.getId());
    await expectSlashedOnChain(d, path, mined);
    await expectStakerRecoversChange(d, mined, height);
  });

  it('with two finality providers (a 1-of-2 FP multisig in the leaf), slashes the one whose key leaked', async () => {
    const other = testKey('p2-fp-second');
    const d = await stake([fp, other], 200_000n);
    const answers = await covenantAdaptorSignatures(d.body);
    expect(d.body.fp_enc_keys).toHaveLength(2);
    const path = slashingPath(d, 'staking', answers, other);
    const signers = [committee[1]!, committee[2]!];
    const good = signedSlashingTx(
      d,
      path,
      decryptQuorum(path, signers, babylonDecryptionKey(other.privateKey)),
    );

    // The FP signature in the other provider's slot: checked against the wrong key.
    // After the three covenant slots come the two FP slots, then the staker's signature.
    const fpSlots = [3, 4];
    const filled = fpSlots.find((i) => good.ins[0]!.witness[i]!.length === 64)!;
    const empty = fpSlots.find((i) => i !== filled)!;
    const swapped = withWitnessItem(
      withWitnessItem(good, empty, good.ins[0]!.witness[filled]!),
      filled,
      new Uint8Array(0),
    );
    const swappedVerdict = await mempoolVerdict(chain, swapped);
    expect(swappedVerdict.allowed).toBe(false);
    expect(swappedVerdict.reason).toMatch(/Invalid Schnorr signature/);

    // The other provider's pre-signatures, decrypted with this one's secret, are not signatures.
    const wrongFp = signedSlashingTx(
      d,
      path,
      decryptQuorum(slashingPath(d, 'staking', answers, fp), signers, babylonDecryptionKey(other.privateKey)),
    );
    const wrongFpVerdict = await mempoolVerdict(chain, wrongFp);
    expect(wrongFpVerdict.allowed).toBe(false);
    expect(wrongFpVerdict.reason).toMatch(/Invalid Schnorr signature/);

    expect(await mempoolVerdict(chain, good)).toEqual({ allowed: true, reason: '' });
    const { tx: mined } = await sendAndMine(chain, good);
    await expectSlashedOnChain(d, path, mined);
  });

  it('unbonds through staker + covenant quorum, then slashes the unbonding output', async () => {
    // The unbonding output holds 98_765 − 1_000 = 97_765; × 0.1 = 9_776.5 exactly in float64,
    // which Babylon rounds half-up to 9_777 (banker's rounding would give 9_776).
    const d = await stake([fp], 98_765n);
    const answers = await covenantAdaptorSignatures(d.body);

    // The unbonding tx: the covenants' plain signatures from the same answers, through the unbonding leaf.
    const stakingOut = fundingOutputOf(d.stakingTx, d.stakingOutputIdx);
    const unbondingMsg = scriptPathSighash(
      d.unbondingTx,
      0,
      { pkScripts: [stakingOut.pkScript], valuesSat: [stakingOut.valueSat] },
      d.stakingInfo.unbonding,
    );
    const unbondingSigners = [committee[1]!, committee[2]!];
    const unbondingSigs = answers
      .filter((a) => unbondingSigners.some((m) => toHex(m) === toHex(a.key)))
      .map((a) => ({
        key: a.key,
        signature: parseHex(a.response.unbonding_transaction_signature, 'sig', 'TEST_BAD_HEX'),
      }));
    for (const s of unbondingSigs) expect(verifySchnorr(unbondingMsg, s.key, s.signature)).toBe(true);
    const unbonding = d.unbondingTx.clone();
    unbonding.ins[0]!.witness = buildUnbondingWitness({
      covenantKeys: d.params.covenantKeys,
      quorum: d.params.covenantQuorum,
      covenantSignatures: unbondingSigs,
      stakerSignature: staker.sign(unbondingMsg),
      leaf: d.stakingInfo.unbonding,
    });
    expect(await mempoolVerdict(chain, unbonding)).toEqual({ allowed: true, reason: '' });
    await sendAndMine(chain, unbonding);

    const path = slashingPath(d, 'unbonding', answers);
    expect(path.fundingValueSat).toBe(97_765n);
    expect(path.tx.outs[0]!.value).toBe(9_777n);
    const signers = [committee[0]!, committee[1]!];
    const good = signedSlashingTx(d, path, decryptQuorum(path, signers, babylonDecryptionKey(fp.privateKey)));

    const short = withWitnessItem(good, slotOf(d, signers[0]!), new Uint8Array(0));
    const shortVerdict = await mempoolVerdict(chain, short);
    expect(shortVerdict.allowed).toBe(false);
    expect(shortVerdict.reason).toMatch(/false\/empty top stack element/);

    // The staking output's slashing tx is now a double spend of the unbonded output.
    const stakingPath = slashingPath(d, 'staking', answers);
    const stale = signedSlashingTx(
      d,
      stakingPath,
      decryptQuorum(stakingPath, signers, babylonDecryptionKey(fp.privateKey)),
    );
    const staleVerdict = await mempoolVerdict(chain, stale);
    expect(staleVerdict.allowed).toBe(false);
    expect(staleVerdict.reason).toMatch(/missing-inputs/);

    expect(await mempoolVerdict(chain, good)).toEqual({ allowed: true, reason: '' });
    const { tx: mined } = await sendAndMine(chain, good);
    await expectSlashedOnChain(d, path, mined);
    // Both slashing txs pay the same change script: the staker's key behind the unbonding time.
    expect(toHex(mined.outs[1]!.script)).toBe(toHex(d.slashingTx.outs[1]!.script));
  });
});
