/**
 * Wallets behind one interface. `extension` speaks the `window.unisat`-style API that UniSat,
 * OKX and others inject (PSBT signing); `sign-elsewhere` shows each PSBT to copy into any
 * PSBT-capable wallet and takes the signed one back. The page never holds a private key.
 */
import { CodedError, isCodedError } from '../common/index.ts';
import { type BitcoinNetwork, parseTransaction, txidOf } from '../staking/index.ts';
import { type InputToSign, parsePsbt, stakerKeyOf, type Utxo } from './txbuild.ts';

export interface WalletAccount {
  readonly address: string;
  /** Compressed (33-byte) or x-only (32-byte) public key, hex: the staker key. */
  readonly publicKeyHex: string;
}

export interface SignRequest {
  /** What is signed, in words the person recognises in the wallet. */
  readonly purpose: 'staking' | 'unbonding' | 'withdraw';
  readonly psbtHex: string;
  readonly psbtBase64: string;
  readonly inputs: readonly InputToSign[];
  /** Whether the wallet should finalize the inputs (false: the page assembles the witness). */
  readonly finalize: boolean;
  /**
   * The page's check of the signed PSBT (hex), throwing a sentence when it is not what was built.
   * A provider that takes the answer from a person runs it before closing its dialog, so a wrong
   * paste is explained where it was pasted and can be corrected there.
   */
  readonly check?: (signedPsbtHex: string) => void;
}

export interface WalletProvider {
  readonly kind: 'extension' | 'sign-elsewhere';
  readonly label: string;
  connect(): Promise<WalletAccount>;
  /** The coins at the account's address; undefined when the wallet funds transactions itself. */
  listUtxos(): Promise<readonly Utxo[] | undefined>;
  /** Signs the requested inputs; answers the signed PSBT as hex. */
  signPsbt(req: SignRequest): Promise<string>;
  /** For wallets without a coin list: add inputs and change to `unfundedTxHex`, sign, answer the tx hex. */
  fundAndSign?(unfundedTxHex: string, check?: (signedTxHex: string) => void): Promise<string>;
  /** Broadcasts a signed transaction; answers its txid. */
  broadcast(txHex: string): Promise<string>;
}

/** The subset of the `window.unisat` API used here (UniSat's documented provider methods). */
export interface UnisatLike {
  requestAccounts(): Promise<string[]>;
  getPublicKey(): Promise<string>;
  getBitcoinUtxos?(
    cursor?: number,
    size?: number,
  ): Promise<Array<{ txid: string; vout: number; satoshis: number; scriptPk: string }>>;
  signPsbt(
    psbtHex: string,
    options: {
      autoFinalized: boolean;
      toSignInputs: Array<{ index: number; publicKey: string; disableTweakSigner?: boolean }>;
    },
  ): Promise<string>;
  pushTx(args: { rawtx: string }): Promise<string>;
}

/** A wallet's refusal as one readable sentence (extensions reject with `{code, message}` objects). */
export function walletError(what: string, e: unknown): CodedError {
  if (isCodedError(e)) return e;
  const raw =
    typeof e === 'string'
      ? e
      : e && typeof e === 'object' && 'message' in e && typeof e.message === 'string'
        ? e.message
        : 'no reason given';
  return new CodedError('WEB_WALLET_REFUSED', `The wallet did not ${what}: ${raw}`);
}

async function ask<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw walletError(what, e);
  }
}

const UTXO_PAGE = 100;
/** A wallet with more coins than this at one address is far outside what a stake needs. */
const MAX_UTXO_PAGES = 20;

/** The browser-extension provider over a `window.unisat`-style object. */
export class ExtensionWallet implements WalletProvider {
  readonly kind = 'extension' as const;
  readonly label = 'Browser extension';
  #account: WalletAccount | undefined;
  constructor(private readonly w: UnisatLike) {}

  async connect(): Promise<WalletAccount> {
    const accounts = await ask('connect', () => this.w.requestAccounts());
    const address = accounts[0];
    if (!address) throw new CodedError('WEB_WALLET_REFUSED', 'The wallet has no account to connect.');
    const publicKeyHex = await ask('share its public key', () => this.w.getPublicKey());
    stakerKeyOf(publicKeyHex);
    this.#account = { address, publicKeyHex };
    return this.#account;
  }

  async listUtxos(): Promise<readonly Utxo[]> {
    const list = this.w.getBitcoinUtxos?.bind(this.w);
    if (!list) {
      throw new CodedError(
        'WEB_WALLET_UNSUPPORTED',
        'This wallet does not list its coins (getBitcoinUtxos), so the page cannot fund a stake from it: use “Sign elsewhere”.',
      );
    }
    const out: Utxo[] = [];
    for (let page = 0; page < MAX_UTXO_PAGES; page++) {
      const batch = await ask('list its coins', () => list(page * UTXO_PAGE, UTXO_PAGE));
      for (const u of batch) {
        out.push({ txid: u.txid, vout: u.vout, valueSat: BigInt(u.satoshis), scriptHex: u.scriptPk });
      }
      if (batch.length < UTXO_PAGE) break;
    }
    return out;
  }

  signPsbt(req: SignRequest): Promise<string> {
    return ask(`sign the ${req.purpose} transaction`, () =>
      this.w.signPsbt(req.psbtHex, {
        autoFinalized: req.finalize,
        toSignInputs: req.inputs.map((i) => ({
          index: i.index,
          publicKey: i.publicKeyHex,
          ...(i.scriptPath ? { disableTweakSigner: true } : {}),
        })),
      }),
    );
  }

  broadcast(txHex: string): Promise<string> {
    return ask('broadcast the transaction', () => this.w.pushTx({ rawtx: txHex }));
  }
}

/** One step of the sign-elsewhere flow: something to copy, and fields to paste back. */
export interface ManualStep {
  readonly title: string;
  readonly explain: string;
  readonly show?: { readonly label: string; readonly value: string };
  readonly fields: ReadonlyArray<{ readonly name: string; readonly label: string }>;
  readonly submitLabel: string;
  /**
   * Judges the answer before the dialog closes; what it throws is shown inside the dialog, which
   * stays open for another try. The provider reads the answer again after `ask` resolves, so a UI
   * without this (a test's script) gets the same checks, only later.
   */
  readonly accept?: (values: Record<string, string>) => void;
}

/** The page's dialog; `ask` rejects when the person cancels. */
export interface ManualUi {
  ask(step: ManualStep): Promise<Record<string, string>>;
}

/** Extracts a signed transaction from what a person pasted: a raw tx hex, or a finalized PSBT. */
export function signedTxFromPaste(text: string, network: BitcoinNetwork): string {
  const t = text.trim();
  if (/^[0-9a-fA-F]+$/.test(t) && !t.toLowerCase().startsWith('70736274ff')) {
    return parseTransaction(t.toLowerCase(), 'the signed transaction').toHex();
  }
  const psbt = parsePsbt(t, network);
  try {
    psbt.finalizeAllInputs();
  } catch {
    // Already finalized inputs throw here too; extraction below says what is really missing.
  }
  try {
    return psbt.extractTransaction().toHex();
  } catch {
    throw new CodedError(
      'WEB_PSBT_INVALID',
      'This PSBT is not fully signed: sign every input (and finalize it) in your wallet, then paste it again.',
    );
  }
}

/** The "sign elsewhere" provider: every signature is made by a wallet the page never talks to. */
export class SignElsewhereWallet implements WalletProvider {
  readonly kind = 'sign-elsewhere' as const;
  readonly label = 'Sign elsewhere (any PSBT wallet)';
  constructor(
    private readonly ui: ManualUi,
    private readonly network: BitcoinNetwork,
  ) {}

  async connect(): Promise<WalletAccount> {
    const r = await this.ui.ask({
      title: 'Connect: sign elsewhere',
      explain:
        'Give the address your wallet receives to and its public key (33-byte compressed or 32-byte x-only, hex): the public key is your staker key. Nothing secret is asked.',
      fields: [
        { name: 'address', label: 'Address' },
        { name: 'publicKey', label: 'Public key (hex)' },
      ],
      submitLabel: 'Connect',
      accept: (v) => void stakerKeyOf((v.publicKey ?? '').trim().toLowerCase()),
    });
    const address = (r.address ?? '').trim();
    const publicKeyHex = (r.publicKey ?? '').trim().toLowerCase();
    stakerKeyOf(publicKeyHex);
    return { address, publicKeyHex };
  }

  async listUtxos(): Promise<undefined> {
    return undefined;
  }

  async fundAndSign(unfundedTxHex: string, check?: (signedTxHex: string) => void): Promise<string> {
    const r = await this.ui.ask({
      title: 'Fund and sign the staking transaction',
      explain:
        'Copy this unfunded transaction (its outputs are the stake and its OP_RETURN) into your wallet, add inputs and change, sign, and paste the signed transaction (hex) or the finalized PSBT back. With Bitcoin Core: fundrawtransaction, then signrawtransactionwithwallet. Do not broadcast it yet: the page checks it first.',
      show: { label: 'Unfunded staking transaction (hex)', value: unfundedTxHex },
      fields: [{ name: 'signed', label: 'Signed transaction (hex) or PSBT' }],
      submitLabel: 'Check it',
      accept: (v) => check?.(signedTxFromPaste(v.signed ?? '', this.network)),
    });
    return signedTxFromPaste(r.signed ?? '', this.network);
  }

  async signPsbt(req: SignRequest): Promise<string> {
    const r = await this.ui.ask({
      title: `Sign the ${req.purpose} transaction`,
      explain: `Copy this PSBT into a wallet that holds your staker key, sign input${req.inputs.length === 1 ? '' : 's'} ${req.inputs.map((i) => i.index).join(', ')}${req.finalize ? '' : ' without finalizing'}, and paste the signed PSBT back (base64 or hex).`,
      show: { label: 'PSBT (base64)', value: req.psbtBase64 },
      fields: [{ name: 'signed', label: 'Signed PSBT' }],
      submitLabel: 'Use this signature',
      accept: (v) => req.check?.(parsePsbt(v.signed ?? '', this.network).toHex()),
    });
    return parsePsbt(r.signed ?? '', this.network).toHex();
  }

  async broadcast(txHex: string): Promise<string> {
    const txid = txidOf(parseTransaction(txHex, 'the transaction'));
    await this.ui.ask({
      title: 'Broadcast the transaction',
      explain:
        'The page does not talk to the Bitcoin network. Broadcast this transaction from your wallet or node (e.g. bitcoin-cli sendrawtransaction), then confirm here; the page watches the staking API for it.',
      show: { label: `Signed transaction ${txid} (hex)`, value: txHex },
      fields: [],
      submitLabel: 'I broadcast it',
    });
    return txid;
  }
}
