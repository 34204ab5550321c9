// The JSON-RPC client the project uses: RpcTransport (rpcTransport.ts) with the typed methods of the
// node's RPCs, grouped by what they touch (chain, mempool, network, wallet, control).
import { satToBtc } from './amount.ts';
import { RpcTransport } from './rpcTransport.ts';
import type {
  AddressInfo,
  AddressType,
  BlockchainInfo,
  BlockHeader,
  BlockVerbose,
  CreateWalletOptions,
  DescriptorInfo,
  FundRawTransactionResult,
  GenerateBlockResult,
  ImportDescriptorRequest,
  ImportDescriptorResult,
  MempoolAcceptResult,
  NetworkInfo,
  RawTransactionVerbose,
  SignRawTransactionResult,
  TxOutInfo,
  UnspentOutput,
  WalletLoadResult,
  WalletProcessPsbtResult,
  ZmqNotification,
} from './types.ts';

export type { BatchEntry, RpcCall, RpcClientOptions, RpcParams } from './rpcTransport.ts';

/**
 * A JSON-RPC client for Bitcoin Core and Knots over HTTP(S), on the kept-alive client of httpConnection.ts.
 * Typed methods cover what the project uses; `call` reaches any other RPC. Amounts going in are
 * satoshis (bigint), converted with satToBtc; amounts coming out are bitcoind's BTC numbers, to be
 * converted with btcToSat.
 *
 * Credentials never appear in an error message, in `details`, or in `JSON.stringify(client)`.
 *
 * @throws {CodedError} `RPC_BAD_OPTIONS` from the constructor for a bad URL, missing or double
 *   credentials, or a bad timeout. Calls reject with `RPC_HTTP`, `RPC_ERROR`, `RPC_TIMEOUT`,
 *   `RPC_UNREACHABLE` or `RPC_BAD_RESPONSE`.
 * @example
 * const rpc = new RpcClient({ url: 'http://127.0.0.1:18443', cookieFile: '/data/regtest/.cookie' });
 * const height = await rpc.getblockcount();
 * const txid = await rpc.withWallet('miner').sendtoaddress(address, 50_000n);
 */
export class RpcClient extends RpcTransport {
  // ---- chain ----
  getblockchaininfo(): Promise<BlockchainInfo> {
    return this.call('getblockchaininfo');
  }

  getblockcount(): Promise<number> {
    return this.call('getblockcount');
  }

  getbestblockhash(): Promise<string> {
    return this.call('getbestblockhash');
  }

  getblockhash(height: number): Promise<string> {
    return this.call('getblockhash', [height]);
  }

  /** The decoded header, or with `verbose` false its 80 bytes as hex. */
  getblockheader(blockhash: string, verbose?: true): Promise<BlockHeader>;
  getblockheader(blockhash: string, verbose: false): Promise<string>;
  getblockheader(blockhash: string, verbose = true): Promise<BlockHeader | string> {
    return this.call('getblockheader', [blockhash, verbose]);
  }

  /** Verbosity 0: the serialized block as hex; verbosity 1 (default): header fields and txids. */
  getblock(blockhash: string, verbosity: 0): Promise<string>;
  getblock(blockhash: string, verbosity?: 1): Promise<BlockVerbose>;
  getblock(blockhash: string, verbosity: 0 | 1 = 1): Promise<string | BlockVerbose> {
    return this.call('getblock', [blockhash, verbosity]);
  }

  /**
   * A transaction by txid (needs -txindex unless it is in the mempool or `blockhash` is given). Verbose
   * answers carry `blockhash` and `confirmations` once it is mined.
   */
  getrawtransaction(txid: string, verbose: true, blockhash?: string): Promise<RawTransactionVerbose>;
  getrawtransaction(txid: string, verbose?: false, blockhash?: string): Promise<string>;
  getrawtransaction(
    txid: string,
    verbose = false,
    blockhash?: string,
  ): Promise<RawTransactionVerbose | string> {
    const params: unknown[] = [txid, verbose ? 1 : 0];
    if (blockhash !== undefined) params.push(blockhash);
    return this.call('getrawtransaction', params);
  }

  /** The unspent output, or null when it is spent or never existed. */
  gettxout(txid: string, n: number, includeMempool = true): Promise<TxOutInfo | null> {
    return this.call('gettxout', [txid, n, includeMempool]);
  }

  // ---- mempool and relay ----

  /**
   * Broadcasts a signed transaction and returns its txid.
   * @param opts.maxFeeRate BTC/kvB above which the node refuses (bitcoind's default 0.10 when omitted; 0 = no limit).
   */
  sendrawtransaction(hex: string, opts: { maxFeeRate?: number | string } = {}): Promise<string> {
    return this.call('sendrawtransaction', opts.maxFeeRate === undefined ? [hex] : [hex, opts.maxFeeRate]);
  }

  /** Would the mempool take these transactions? Never throws for a rejected transaction: see `allowed`. */
  testmempoolaccept(
    rawtxs: readonly string[],
    opts: { maxFeeRate?: number | string } = {},
  ): Promise<MempoolAcceptResult[]> {
    return this.call(
      'testmempoolaccept',
      opts.maxFeeRate === undefined ? [rawtxs] : [rawtxs, opts.maxFeeRate],
    );
  }

  /** Txids in the mempool. */
  getrawmempool(): Promise<string[]> {
    return this.call('getrawmempool', [false]);
  }

  getnetworkinfo(): Promise<NetworkInfo> {
    return this.call('getnetworkinfo');
  }

  getzmqnotifications(): Promise<ZmqNotification[]> {
    return this.call('getzmqnotifications');
  }

  // ---- wallets ----

  createwallet(name: string, opts: CreateWalletOptions = {}): Promise<WalletLoadResult> {
    const params: Record<string, unknown> = { wallet_name: name };
    if (opts.disablePrivateKeys !== undefined) params.disable_private_keys = opts.disablePrivateKeys;
    if (opts.blank !== undefined) params.blank = opts.blank;
    if (opts.passphrase !== undefined) params.passphrase = opts.passphrase;
    if (opts.avoidReuse !== undefined) params.avoid_reuse = opts.avoidReuse;
    if (opts.descriptors !== undefined) params.descriptors = opts.descriptors;
    if (opts.loadOnStartup !== undefined) params.load_on_startup = opts.loadOnStartup;
    return this.call('createwallet', params);
  }

  loadwallet(name: string): Promise<WalletLoadResult> {
    return this.call('loadwallet', [name]);
  }

  listwallets(): Promise<string[]> {
    return this.call('listwallets');
  }

  /** A new receiving address of this client's wallet; pass the type explicitly (Knots' default may differ). */
  getnewaddress(label = '', addressType?: AddressType): Promise<string> {
    return this.call('getnewaddress', addressType === undefined ? [label] : [label, addressType]);
  }

  getaddressinfo(address: string): Promise<AddressInfo> {
    return this.call('getaddressinfo', [address]);
  }

  /**
   * Pays `amountSat` satoshis to `address` from this client's wallet and returns the txid.
   * @param opts.feeRateSatVb fee rate in sat/vB; the wallet estimates (or uses -fallbackfee) when omitted.
   */
  sendtoaddress(
    address: string,
    amountSat: bigint,
    opts: { subtractFeeFromAmount?: boolean; replaceable?: boolean; feeRateSatVb?: number } = {},
  ): Promise<string> {
    const params: Record<string, unknown> = { address, amount: satToBtc(amountSat, 'amountSat') };
    if (opts.subtractFeeFromAmount !== undefined) params.subtractfeefromamount = opts.subtractFeeFromAmount;
    if (opts.replaceable !== undefined) params.replaceable = opts.replaceable;
    if (opts.feeRateSatVb !== undefined) params.fee_rate = opts.feeRateSatVb;
    return this.call('sendtoaddress', params);
  }

  listunspent(
    opts: { minconf?: number; maxconf?: number; addresses?: readonly string[] } = {},
  ): Promise<UnspentOutput[]> {
    return this.call('listunspent', [opts.minconf ?? 1, opts.maxconf ?? 9_999_999, opts.addresses ?? []]);
  }

  /** Adds inputs (and change) from this client's wallet; `options` are bitcoind's (`fee_rate`, `changePosition`, …). */
  fundrawtransaction(
    hex: string,
    options: Readonly<Record<string, unknown>> = {},
  ): Promise<FundRawTransactionResult> {
    return this.call('fundrawtransaction', [hex, options]);
  }

  signrawtransactionwithwallet(
    hex: string,
    prevtxs?: readonly {
      txid: string;
      vout: number;
      scriptPubKey: string;
      /** BTC, e.g. satToBtc(valueSat). */
      amount: string;
      redeemScript?: string;
      witnessScript?: string;
    }[],
    sighashType?: string,
  ): Promise<SignRawTransactionResult> {
    const params: unknown[] = [hex];
    if (prevtxs !== undefined || sighashType !== undefined) params.push(prevtxs ?? []);
    if (sighashType !== undefined) params.push(sighashType);
    return this.call('signrawtransactionwithwallet', params);
  }

  /**
   * Updates and signs a PSBT with this client's wallet. Defaults: sign, sighash DEFAULT (what a taproot
   * script-path signature wants), include BIP32 derivations, finalize.
   */
  walletprocesspsbt(
    psbtBase64: string,
    opts: { sign?: boolean; sighashType?: string; bip32derivs?: boolean; finalize?: boolean } = {},
  ): Promise<WalletProcessPsbtResult> {
    return this.call('walletprocesspsbt', [
      psbtBase64,
      opts.sign ?? true,
      opts.sighashType ?? 'DEFAULT',
      opts.bip32derivs ?? true,
      opts.finalize ?? true,
    ]);
  }

  /**
   * Imports descriptors into this client's (descriptor) wallet. A per-descriptor failure comes back in
   * its result entry, with bitcoind's message verbatim: a message about a private-key descriptor may
   * quote the key, so callers must not log those entries.
   */
  importdescriptors(requests: readonly ImportDescriptorRequest[]): Promise<ImportDescriptorResult[]> {
    return this.call('importdescriptors', [requests]);
  }

  getdescriptorinfo(descriptor: string): Promise<DescriptorInfo> {
    return this.call('getdescriptorinfo', [descriptor]);
  }

  // ---- regtest control ----

  /** Mines `nblocks` blocks paying `address`; returns their hashes. */
  generatetoaddress(nblocks: number, address: string): Promise<string[]> {
    return this.call('generatetoaddress', [nblocks, address]);
  }

  /** Mines one block paying `output` (address or descriptor) with exactly `transactions` (txids or hex). */
  generateblock(
    output: string,
    transactions: readonly string[],
    submit = true,
  ): Promise<GenerateBlockResult> {
    return this.call('generateblock', [output, transactions, submit]);
  }

  async invalidateblock(blockhash: string): Promise<void> {
    await this.call('invalidateblock', [blockhash]);
  }

  async reconsiderblock(blockhash: string): Promise<void> {
    await this.call('reconsiderblock', [blockhash]);
  }

  /** Asks the node to shut down; it answers before it exits. */
  stop(): Promise<string> {
    return this.call('stop');
  }

  /** Seconds since the node started. */
  uptime(): Promise<number> {
    return this.call('uptime');
  }
}
