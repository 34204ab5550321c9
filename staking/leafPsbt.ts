import { type Network, Psbt, type Transaction } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, type XOnlyKey } from '../common/index.ts';
import type { Leaf } from './stakingInfo.ts';
import { LEAF_VERSION_TAPSCRIPT } from './taproot.ts';

/*
 * The PSBT a wallet signs one tapscript leaf through, and the signature taken back out of it. Both
 * the covenant custody (bitcoind's walletprocesspsbt) and the staker's dashboard wallet sign this
 * way, for the unbonding leaf and the timelock leaves; one builder and one picker serve all of them.
 */

/** Fingerprint 00000000 and path m: bitcoind matches the key by its public key alone (test-infrastructure.md §1.3). */
const NO_FINGERPRINT = new Uint8Array(4);

export interface LeafSpend {
  /** The spending transaction: exactly one input, the output `prevout` describes. */
  readonly tx: Transaction;
  readonly prevout: { readonly script: Uint8Array; readonly valueSat: bigint };
  /** The leaf to sign through, with its control block. */
  readonly leaf: Leaf;
  /**
   * The key that is to sign, named in the input's BIP371 derivation: bitcoind signs only for keys
   * named there. A browser wallet picks its own key, so the dashboard names none.
   */
  readonly signerKey?: XOnlyKey;
  /** bitcoinjs's network, for wallets that read addresses off the PSBT; bitcoinjs's default if absent. */
  readonly network?: Network;
}

/**
 * A PSBT of exactly `s.tx` (version, lock time, outpoint, sequence, outputs) whose one input
 * carries what a script-path signature needs: the spent output, the internal key (as the control
 * block states it) and the leaf.
 * @throws {CodedError} STAKING_INVALID_ARGUMENT when the tx has not exactly one input
 */
export function buildLeafSigningPsbt(s: LeafSpend): Psbt {
  const tx = s.tx;
  if (tx.ins.length !== 1) {
    throw new CodedError(
      'STAKING_INVALID_ARGUMENT',
      `a leaf-signing PSBT spends 1 input, the transaction has ${tx.ins.length}`,
    );
  }
  const input = tx.ins[0]!;
  const psbt = new Psbt(s.network ? { network: s.network } : undefined);
  psbt.setVersion(tx.version);
  psbt.setLocktime(tx.locktime);
  psbt.addInput({
    hash: input.hash,
    index: input.index,
    sequence: input.sequence,
    witnessUtxo: { script: s.prevout.script, value: s.prevout.valueSat },
    // Byte 0 of a control block is the leaf version and parity; bytes 1..32 the internal key.
    tapInternalKey: s.leaf.controlBlock.slice(1, 33),
    tapLeafScript: [
      { leafVersion: LEAF_VERSION_TAPSCRIPT, script: s.leaf.script, controlBlock: s.leaf.controlBlock },
    ],
    ...(s.signerKey
      ? {
          tapBip32Derivation: [
            {
              masterFingerprint: NO_FINGERPRINT,
              path: 'm',
              pubkey: s.signerKey,
              leafHashes: [s.leaf.leafHash],
            },
          ],
        }
      : {}),
  });
  for (const out of tx.outs) psbt.addOutput({ script: out.script, value: out.value });
  return psbt;
}

/**
 * The script-path signature of input 0 by `key` over the leaf `leafHash`, as the signer left it
 * (64 bytes, or 65 with an explicit sighash type: the caller decides), or undefined when there is
 * none. Matched on key AND leaf, never the first entry: a PSBT may carry signatures by other keys
 * (a wallet holding two keys of the committee signs for both) or for other leaves.
 */
export function leafSignatureOf(psbt: Psbt, key: XOnlyKey, leafHash: Uint8Array): Uint8Array | undefined {
  const found = psbt.data.inputs[0]?.tapScriptSig?.find(
    (s) => bytesEqual(s.pubkey, key) && bytesEqual(s.leafHash, leafHash),
  );
  return found ? Uint8Array.from(found.signature) : undefined;
}
