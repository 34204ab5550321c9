import { createHash } from 'node:crypto';
import { Psbt, Transaction } from 'bitcoinjs-lib';
import { RpcClient } from '../bitcoind/index.ts';
import {
  concatBytes,
  copyXOnlyKey,
  isCodedError,
  parseCompressedKey,
  toHex,
  type XOnlyKey,
} from '../common/index.ts';
import {
  buildLeafSigningPsbt,
  controlBlock,
  type Leaf,
  leafSignatureOf,
  tapLeafHash,
  taprootOutput,
  taprootSighashDefault,
} from '../staking/index.ts';
import { type AnchorStore, keyAuditCustody, readOrCreateAuditKeyFile } from './auditFiles.ts';
import type { BitcoindWalletCustodyConfig } from './config.ts';
import type { AuditCustody, CustodyBackend, CustodyHealth, UnbondingSignRequest } from './custody.ts';
import { descriptorChecksum } from './descriptor.ts';
import { hsmError } from './errors.ts';
import type { CustodyLogger } from './logger.ts';
import { encodeWif, type KeyInfo, keyInfoOf, xOnlyOfInfo } from './privateKey.ts';
import { readSecret } from './secrets.ts';
import { assertSignatureValid, assertSignRequest } from './signing.ts';

/*
 * The reference's own method (covenant-signer.md §1.5): the covenant key lives in a bitcoind
 * descriptor wallet on an offline node; the signer sends it a PSBT of the unbonding tx that carries
 * the staking output, the unbonding leaf with its control block and a taproot BIP32 entry naming the
 * covenant key, and `walletprocesspsbt <psbt> true "DEFAULT"` adds the script-path signature.
 *
 * Unlike the reference, which takes the first signature of the answer blindly and returns it
 * unchecked, this takes the signature whose key is the requested key AND whose leaf hash is the
 * requested leaf, and verifies it against the sighash the signer computed itself.
 */

/**
 * bitcoind's RPC error codes that mean something to custody (src/rpc/protocol.h):
 * RPC_WALLET_UNLOCK_NEEDED -13, RPC_WALLET_NOT_FOUND -18, RPC_WALLET_NOT_SPECIFIED -19.
 */
const RPC_WALLET_UNLOCK_NEEDED = -13;
const RPC_WALLET_NOT_FOUND = -18;
const RPC_WALLET_NOT_SPECIFIED = -19;

interface WalletInfo {
  walletname: string;
  private_keys_enabled: boolean;
  /** Present only for an encrypted wallet: 0 when locked, else the unix time it locks again. */
  unlocked_until?: number;
}

/** Maps the RPC client's errors to custody codes; bitcoind's own text stays in `cause`. */
function walletError(e: unknown, method: string, url: string): Error {
  if (!isCodedError(e)) return e instanceof Error ? e : new Error(String(e));
  if (e.code.startsWith('HSM_')) return e;
  const details = { method, url, upstream: e.code, rpcCode: e.details?.rpcCode };
  if (e.code === 'RPC_HTTP' && (e.details?.status === 401 || e.details?.status === 403)) {
    return hsmError('HSM_WALLET_AUTH', `${method}: the wallet node at ${url} refused the RPC credentials`, {
      cause: e,
      details,
    });
  }
  if (e.code === 'RPC_ERROR') {
    const rpcCode = e.details?.rpcCode;
    if (rpcCode === RPC_WALLET_NOT_FOUND || rpcCode === RPC_WALLET_NOT_SPECIFIED) {
      return hsmError('HSM_WALLET_NOT_LOADED', `${method}: the wallet is not loaded on ${url}`, {
        cause: e,
        details,
      });
    }
    if (rpcCode === RPC_WALLET_UNLOCK_NEEDED) {
      return hsmError(
        'HSM_WALLET_LOCKED',
        `${method}: the wallet is locked; unlock it with walletpassphrase`,
        {
          cause: e,
          details,
        },
      );
    }
    return hsmError('HSM_WALLET_ERROR', `${method} failed (bitcoind error ${String(rpcCode)})`, {
      cause: e,
      details,
    });
  }
  if (e.code === 'RPC_BAD_OPTIONS') {
    return hsmError('HSM_CONFIG_INVALID_VALUE', `custody.bitcoind_wallet: ${e.message}`, {
      cause: e,
      details,
    });
  }
  // RPC_UNREACHABLE, RPC_TIMEOUT, RPC_HTTP (other statuses), RPC_BAD_RESPONSE.
  return hsmError(
    'HSM_WALLET_UNREACHABLE',
    `${method}: the wallet node at ${url} does not answer (${e.code})`,
    {
      cause: e,
      details,
    },
  );
}

/** An RpcClient for the configured wallet; the password is read from its file now and kept only by the client. */
async function walletClient(config: BitcoindWalletCustodyConfig): Promise<RpcClient> {
  try {
    const auth =
      'cookieFile' in config.auth
        ? { cookieFile: config.auth.cookieFile }
        : {
            user: config.auth.user,
            password: await readSecret({ file: config.auth.passwordFile }, 'RPC password'),
          };
    return new RpcClient({ url: config.url, wallet: config.wallet, timeoutMs: config.timeoutMs, ...auth });
  } catch (e) {
    throw walletError(e, 'connecting', config.url);
  }
}

/** The PSBT the wallet signs: the unbonding tx, the staking output, the unbonding leaf, and whose key signs. */
export function buildSigningPsbt(req: UnbondingSignRequest): Psbt {
  try {
    return buildLeafSigningPsbt({
      tx: req.unbondingTx,
      prevout: req.stakingOutput,
      leaf: req.leaf,
      signerKey: req.key,
    });
  } catch (e) {
    if (!isCodedError(e, 'STAKING_INVALID_ARGUMENT')) throw e;
    throw hsmError('HSM_BAD_REQUEST', e.message, { cause: e, details: { field: 'unbondingTx' } });
  }
}

/**
 * A harmless request for the health check: a one-leaf taproot output `<key> OP_CHECKSIG` under the NUMS
 * key, spent from an outpoint whose txid is a hash of a fixed string, which no transaction has. Its
 * signature authorises nothing; it proves the wallet is unlocked and holds the key.
 */
function probeRequest(key: XOnlyKey): UnbondingSignRequest {
  const script = concatBytes(Uint8Array.of(0x20), key, Uint8Array.of(0xac));
  const leafHash = tapLeafHash(script);
  // One leaf: the merkle root is the leaf hash and the control block has no path.
  const output = taprootOutput(leafHash);
  const pkScript = output.pkScript;
  const leaf: Leaf = { script, leafHash, controlBlock: controlBlock(output, []) };
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(
    createHash('sha256').update('babylon-covenant-signer/wallet-health-probe').digest(),
    0,
    0xffffffff,
  );
  tx.addOutput(Uint8Array.of(0x6a, 0x05, ...Buffer.from('probe')), 0n);
  const valueSat = 10_000n;
  const sighash = taprootSighashDefault(tx, 0, [pkScript], [valueSat], leafHash);
  return { key, sighash, unbondingTx: tx, stakingOutput: { script: pkScript, valueSat }, leaf };
}

/** The signature by `req.key` over `req.leaf` that walletprocesspsbt added, verified. */
async function signWithWallet(rpc: RpcClient, req: UnbondingSignRequest): Promise<Uint8Array> {
  const psbt = buildSigningPsbt(req);
  let answer: string;
  try {
    answer = (
      await rpc.walletprocesspsbt(psbt.toBase64(), { sign: true, sighashType: 'DEFAULT', finalize: false })
    ).psbt;
  } catch (e) {
    throw walletError(e, 'walletprocesspsbt', rpc.url);
  }
  return pickSignature(answer, req);
}

/**
 * From a PSBT the wallet signed, the script-path signature whose key is `req.key` AND whose leaf hash
 * is `req.leaf.leafHash`, verified against `req.sighash`. Not the first entry, as the reference takes:
 * a PSBT can carry signatures by other keys (a wallet holding two keys of the committee signs for
 * both when both are named) or for other leaves.
 * @throws {CodedError} HSM_WALLET_ERROR, HSM_WALLET_NO_SIGNATURE, HSM_SIGNATURE_INVALID
 */
export function pickSignature(psbtBase64: string, req: UnbondingSignRequest): Uint8Array {
  let signed: Psbt;
  try {
    signed = Psbt.fromBase64(psbtBase64);
  } catch (cause) {
    throw hsmError('HSM_WALLET_ERROR', 'walletprocesspsbt returned a PSBT that does not parse', { cause });
  }
  const sig = leafSignatureOf(signed, req.key, req.leaf.leafHash);
  if (!sig) {
    throw hsmError(
      'HSM_WALLET_NO_SIGNATURE',
      `walletprocesspsbt added no signature by ${toHex(req.key)} for the requested leaf`,
      { details: { key: toHex(req.key) } },
    );
  }
  // A 65th byte would be an explicit sighash type: the staking script needs SIGHASH_DEFAULT.
  return assertSignatureValid(req.sighash, req.key, sig);
}

/**
 * Reachable, loaded, holding private keys, unlocked, and able to sign for `key` (a dry-run signature).
 * @throws {CodedError} HSM_WALLET_… codes
 */
async function checkWallet(rpc: RpcClient, key: XOnlyKey): Promise<string> {
  let info: WalletInfo;
  try {
    info = await rpc.call<WalletInfo>('getwalletinfo');
  } catch (e) {
    throw walletError(e, 'getwalletinfo', rpc.url);
  }
  if (!info.private_keys_enabled) {
    throw hsmError(
      'HSM_WALLET_KEY_NOT_FOUND',
      `wallet "${info.walletname}" is watch-only and holds no private keys`,
    );
  }
  if (info.unlocked_until === 0) {
    throw hsmError(
      'HSM_WALLET_LOCKED',
      `wallet "${info.walletname}" is locked; unlock it with walletpassphrase`,
    );
  }
  try {
    await signWithWallet(rpc, probeRequest(key));
  } catch (e) {
    if (isCodedError(e, 'HSM_WALLET_NO_SIGNATURE')) {
      throw hsmError(
        'HSM_WALLET_KEY_NOT_FOUND',
        `wallet "${info.walletname}" cannot sign for ${toHex(key)}`,
        {
          cause: e,
          details: { key: toHex(key) },
        },
      );
    }
    throw e;
  }
  const unlock =
    info.unlocked_until === undefined
      ? 'not encrypted'
      : `unlocked until ${new Date(info.unlocked_until * 1000).toISOString()}`;
  return `wallet "${info.walletname}" reachable, loaded, ${unlock}, signs for ${toHex(key)}`;
}

/** Prefix of the wallet address label that carries the audit anchor (hex after it). */
const ANCHOR_LABEL_PREFIX = 'babylon-covenant-signer/audit-anchor/';

/**
 * The audit anchor kept in the wallet node, as the label of one wallet address: the node is another
 * host, so restoring the signer host (its log and its audit key file) from an older backup does not
 * roll the anchor back. Labels are stored in the wallet's database; `setlabel` needs no unlock.
 */
function walletAnchorStore(rpc: RpcClient): AnchorStore {
  const current = async (): Promise<string | undefined> => {
    let labels: string[];
    try {
      labels = (await rpc.call<string[]>('listlabels')).filter((l) => l.startsWith(ANCHOR_LABEL_PREFIX));
    } catch (e) {
      throw walletError(e, 'listlabels', rpc.url);
    }
    if (labels.length > 1) {
      throw hsmError(
        'HSM_WALLET_ERROR',
        `the wallet holds ${labels.length} audit anchors; custody does not guess`,
      );
    }
    return labels[0];
  };
  return {
    async read() {
      const label = await current();
      return label === undefined
        ? undefined
        : Uint8Array.from(Buffer.from(label.slice(ANCHOR_LABEL_PREFIX.length), 'hex'));
    },
    async replace(next) {
      const label = `${ANCHOR_LABEL_PREFIX}${toHex(next)}`;
      const old = await current();
      try {
        if (old === undefined) {
          await rpc.getnewaddress(label, 'bech32');
          return;
        }
        const [address] = Object.keys(await rpc.call<Record<string, unknown>>('getaddressesbylabel', [old]));
        await rpc.call('setlabel', [address, label]);
      } catch (e) {
        throw walletError(e, 'setlabel', rpc.url);
      }
    },
  };
}

/** Without `audit_key_file` the backend still signs for ceremonies and tests, but no audit log can be keyed. */
function missingAuditKey(): AuditCustody {
  const fail = async (): Promise<never> => {
    throw hsmError(
      'HSM_CONFIG_MISSING_KEY',
      'custody.bitcoind_wallet.audit_key_file is required for the signer’s audit log: the wallet node cannot compute a MAC',
      { details: { field: 'custody.bitcoind_wallet.audit_key_file' } },
    );
  };
  return {
    description: 'bitcoind-wallet without audit_key_file: no audit key',
    mac: fail,
    readAnchor: fail,
    writeAnchor: fail,
  };
}

class BitcoindWalletCustody implements CustodyBackend {
  readonly kind = 'bitcoind-wallet' as const;
  readonly #rpc: RpcClient;
  readonly #key: XOnlyKey;
  readonly audit: AuditCustody & { close?(): void };
  #closed = false;

  constructor(rpc: RpcClient, key: XOnlyKey, audit: AuditCustody & { close?(): void }) {
    this.#rpc = rpc;
    this.#key = key;
    this.audit = audit;
  }

  #assertOpen(): void {
    if (this.#closed) throw hsmError('HSM_CLOSED', 'the bitcoind-wallet custody backend is closed');
  }

  async publicKeys(): Promise<readonly XOnlyKey[]> {
    this.#assertOpen();
    return [copyXOnlyKey(this.#key)];
  }

  async sign(req: UnbondingSignRequest): Promise<Uint8Array> {
    this.#assertOpen();
    assertSignRequest(req, [this.#key]);
    return signWithWallet(this.#rpc, req);
  }

  async health(): Promise<CustodyHealth> {
    if (this.#closed) return { ok: false, detail: 'the bitcoind-wallet custody backend is closed' };
    try {
      return { ok: true, detail: await checkWallet(this.#rpc, this.#key) };
    } catch (e) {
      return { ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.audit.close?.();
  }
}

/**
 * Opens the wallet backend and checks, failing closed, that the wallet is reachable, loaded, unlocked
 * and signs for the configured key.
 * @throws {CodedError} HSM_CONFIG_MISSING_KEY (no `key`), HSM_SECRET_…, HSM_WALLET_… codes
 */
export async function openBitcoindWalletCustody(
  config: BitcoindWalletCustodyConfig,
  opts: { logger?: CustodyLogger } = {},
): Promise<CustodyBackend> {
  if (!config.key) {
    throw hsmError('HSM_CONFIG_MISSING_KEY', 'custody.bitcoind_wallet.key is required to open the backend', {
      details: { field: 'custody.bitcoind_wallet.key' },
    });
  }
  const rpc = await walletClient(config);
  const detail = await checkWallet(rpc, config.key);
  opts.logger?.info?.(
    { custody: 'bitcoind-wallet', url: rpc.url, key: toHex(config.key) },
    `custody: ${detail}`,
  );
  let audit: AuditCustody & { close?(): void } = missingAuditKey();
  if (config.auditKeyFile) {
    const anchor = walletAnchorStore(rpc);
    audit = keyAuditCustody(
      await readOrCreateAuditKeyFile(config.auditKeyFile, anchor, opts.logger),
      anchor,
      `bitcoind-wallet: the wallet node cannot MAC, so the audit MAC key is the file ${config.auditKeyFile} on the signer host, and the anchor is a label in wallet "${config.wallet}" on the wallet node; whoever can read that key file can forge records, and whoever can also set the wallet's labels (its RPC credentials) can roll the log back`,
    );
  }
  return new BitcoindWalletCustody(rpc, config.key, audit);
}

// ---- ceremonies ----

function assertNoOtherKey(config: BitcoindWalletCustodyConfig, info?: KeyInfo): void {
  if (config.key && (!info || info.xOnly !== toHex(config.key))) {
    throw hsmError(
      'HSM_KEY_EXISTS',
      `custody.bitcoind_wallet.key is already set to ${toHex(config.key)}; remove it from the config to make another key`,
      { details: { field: 'custody.bitcoind_wallet.key' } },
    );
  }
}

/**
 * A new key from the wallet's own HD chain (getnewaddress bech32 → its public key), so the wallet's
 * backup covers it. Put the printed x-only key into `custody.bitcoind_wallet.key`.
 * @throws {CodedError} HSM_KEY_EXISTS, HSM_WALLET_… codes
 */
export async function generateWalletKey(config: BitcoindWalletCustodyConfig): Promise<KeyInfo> {
  assertNoOtherKey(config);
  const rpc = await walletClient(config);
  let pubkey: string | undefined;
  try {
    const address = await rpc.getnewaddress('covenant', 'bech32');
    pubkey = (await rpc.getaddressinfo(address)).pubkey;
  } catch (e) {
    throw walletError(e, 'getnewaddress', rpc.url);
  }
  const compressed = parseCompressedKey(pubkey, 'pubkey', 'HSM_WALLET_ERROR');
  return { xOnly: toHex(compressed.subarray(1)), compressed: toHex(compressed) };
}

/**
 * Imports a private key into the wallet as a `wpkh(<WIF>)` descriptor (import-key, import-backup), then
 * checks the wallet signs for it. `produce` is called once; its bytes are wiped here. The descriptor is text, so here the key exists as a string, once, in
 * the RPC request; the RPC client redacts importdescriptors errors and this never logs the results.
 * @throws {CodedError} HSM_KEY_EXISTS, HSM_WALLET_… codes
 */
export async function importWalletKey(
  config: BitcoindWalletCustodyConfig,
  produce: () => Uint8Array,
): Promise<KeyInfo> {
  const rpc = await walletClient(config);
  let chain: string;
  try {
    chain = (await rpc.getblockchaininfo()).chain;
  } catch (e) {
    throw walletError(e, 'getblockchaininfo', rpc.url);
  }
  const privateKey = produce();
  let info: KeyInfo;
  let wif: string;
  try {
    info = keyInfoOf(privateKey);
    wif = encodeWif(privateKey, chain === 'main' ? 'mainnet' : 'test');
  } finally {
    privateKey.fill(0);
  }
  assertNoOtherKey(config, info);
  const body = `wpkh(${wif})`;
  const desc = `${body}#${descriptorChecksum(body)}`;
  let ok: boolean;
  try {
    const [result] = await rpc.importdescriptors([{ desc, timestamp: 'now', label: 'covenant' }]);
    ok = result?.success === true;
  } catch (e) {
    throw walletError(e, 'importdescriptors', rpc.url);
  }
  // The per-descriptor error may quote the descriptor, i.e. the key: it is not passed on.
  if (!ok) throw hsmError('HSM_WALLET_ERROR', 'importdescriptors refused the covenant key descriptor');
  await checkWallet(rpc, xOnlyOfInfo(info));
  return info;
}
