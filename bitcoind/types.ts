// Result shapes of the RPCs the project uses, as Bitcoin Core/Knots 29 return them. Field names are
// bitcoind's own. Amounts stay in BTC as JSON numbers, exactly as the node sent them: convert each with
// btcToSat (amount.ts) and never with arithmetic on the number. Only the fields the project reads are
// typed; the rest of bitcoind's answer is still there at run time.

/** `getblockchaininfo`. */
export interface BlockchainInfo {
  chain: string;
  blocks: number;
  headers: number;
  bestblockhash: string;
  difficulty: number;
  time: number;
  mediantime: number;
  verificationprogress: number;
  initialblockdownload: boolean;
  chainwork: string;
  size_on_disk: number;
  pruned: boolean;
  warnings: string | string[];
}

/** `getblockheader` with verbose=true. */
export interface BlockHeader {
  hash: string;
  confirmations: number;
  height: number;
  version: number;
  versionHex: string;
  merkleroot: string;
  time: number;
  mediantime: number;
  nonce: number;
  bits: string;
  difficulty: number;
  chainwork: string;
  nTx: number;
  previousblockhash?: string;
  nextblockhash?: string;
}

/** `getblock` with verbosity 1: the header fields plus the txids. */
export interface BlockVerbose extends BlockHeader {
  strippedsize: number;
  size: number;
  weight: number;
  tx: string[];
}

export interface ScriptPubKey {
  asm: string;
  hex: string;
  type: string;
  address?: string;
  desc?: string;
}

export interface TxIn {
  txid?: string;
  vout?: number;
  coinbase?: string;
  scriptSig?: { asm: string; hex: string };
  txinwitness?: string[];
  sequence: number;
}

export interface TxOutVerbose {
  /** BTC. */
  value: number;
  n: number;
  scriptPubKey: ScriptPubKey;
}

/** `getrawtransaction` with verbose=true; the block fields are present once the tx is in a block. */
export interface RawTransactionVerbose {
  txid: string;
  hash: string;
  version: number;
  size: number;
  vsize: number;
  weight: number;
  locktime: number;
  vin: TxIn[];
  vout: TxOutVerbose[];
  hex: string;
  in_active_chain?: boolean;
  blockhash?: string;
  confirmations?: number;
  time?: number;
  blocktime?: number;
}

/** `gettxout` for an unspent output. */
export interface TxOutInfo {
  bestblock: string;
  confirmations: number;
  /** BTC. */
  value: number;
  scriptPubKey: ScriptPubKey;
  coinbase: boolean;
}

/** One entry of `testmempoolaccept`. `allowed` is absent when package validation stopped early. */
export interface MempoolAcceptResult {
  txid: string;
  wtxid: string;
  allowed?: boolean;
  vsize?: number;
  /** BTC. */
  fees?: { base: number; 'effective-feerate'?: number; 'effective-includes'?: string[] };
  'reject-reason'?: string;
  'package-error'?: string;
}

/** `getnetworkinfo`. */
export interface NetworkInfo {
  version: number;
  subversion: string;
  protocolversion: number;
  localservices: string;
  connections: number;
  networkactive: boolean;
  /** BTC/kvB. */
  relayfee: number;
  /** BTC/kvB. */
  incrementalfee: number;
  warnings: string | string[];
}

/** One entry of `getzmqnotifications`. */
export interface ZmqNotification {
  type: string;
  address: string;
  hwm: number;
}

/** `createwallet` and `loadwallet`. */
export interface WalletLoadResult {
  name: string;
  warning?: string;
  warnings?: string[];
}

/** Options of `createwallet`; bitcoind's defaults apply to what is left out. */
export interface CreateWalletOptions {
  disablePrivateKeys?: boolean;
  blank?: boolean;
  /** Sent to the node only; never logged or put in an error. */
  passphrase?: string;
  avoidReuse?: boolean;
  descriptors?: boolean;
  loadOnStartup?: boolean;
}

export type AddressType = 'legacy' | 'p2sh-segwit' | 'bech32' | 'bech32m';

/** `getaddressinfo`. */
export interface AddressInfo {
  address: string;
  scriptPubKey: string;
  ismine: boolean;
  iswatchonly: boolean;
  solvable: boolean;
  desc?: string;
  parent_desc?: string;
  isscript: boolean;
  ischange: boolean;
  iswitness: boolean;
  witness_version?: number;
  witness_program?: string;
  pubkey?: string;
  hdkeypath?: string;
  hdmasterfingerprint?: string;
  labels: string[];
}

/** One entry of `listunspent`. */
export interface UnspentOutput {
  txid: string;
  vout: number;
  address?: string;
  label?: string;
  scriptPubKey: string;
  /** BTC. */
  amount: number;
  confirmations: number;
  spendable: boolean;
  solvable: boolean;
  desc?: string;
  safe: boolean;
}

/** `fundrawtransaction`. */
export interface FundRawTransactionResult {
  hex: string;
  /** BTC. */
  fee: number;
  changepos: number;
}

/** `signrawtransactionwithwallet`. */
export interface SignRawTransactionResult {
  hex: string;
  complete: boolean;
  errors?: {
    txid: string;
    vout: number;
    witness?: string[];
    scriptSig: string;
    sequence: number;
    error: string;
  }[];
}

/** `walletprocesspsbt`. */
export interface WalletProcessPsbtResult {
  psbt: string;
  complete: boolean;
  hex?: string;
}

/** One request of `importdescriptors`. The descriptor may hold private keys: it is never logged. */
export interface ImportDescriptorRequest {
  desc: string;
  active?: boolean;
  range?: number | [number, number];
  next_index?: number;
  /** Unix time or 'now'. */
  timestamp: number | 'now';
  internal?: boolean;
  label?: string;
}

export interface ImportDescriptorResult {
  success: boolean;
  warnings?: string[];
  error?: { code: number; message: string };
}

/** `getdescriptorinfo`. */
export interface DescriptorInfo {
  descriptor: string;
  checksum: string;
  isrange: boolean;
  issolvable: boolean;
  hasprivatekeys: boolean;
}

/** `generateblock`. */
export interface GenerateBlockResult {
  hash: string;
  hex?: string;
}
