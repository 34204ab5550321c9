import { readFileSync } from 'node:fs';
import { Psbt } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import { WEB_ERRORS } from './errors.ts';
import { compressedPub, p2wpkhAddress, signerOf } from './testkit.ts';
import { bitcoinjsNetwork, outputScriptOf } from './txbuild.ts';
import {
  ExtensionWallet,
  type ManualStep,
  SignElsewhereWallet,
  type SignRequest,
  signedTxFromPaste,
  type UnisatLike,
} from './wallet.ts';

const key = testKey('web-wallet');
const pub = toHex(compressedPub(key));
const address = p2wpkhAddress(key);

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isCodedError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('did not fail');
}

/** An empty regtest PSBT. */
const psbtToSign = () => new Psbt({ network: bitcoinjsNetwork('regtest') });

describe('ExtensionWallet (window.unisat-style)', () => {
  const calls: unknown[] = [];
  const fake = (over: Partial<UnisatLike> = {}): UnisatLike => ({
    requestAccounts: async () => [address],
    getPublicKey: async () => pub,
    getBitcoinUtxos: async (cursor = 0, size = 100) =>
      Array.from({ length: Math.max(0, Math.min(size, 130 - cursor)) }, (_, i) => ({
        txid: 'ab'.repeat(32),
        vout: cursor + i,
        satoshis: 1000 + cursor + i,
        scriptPk: toHex(outputScriptOf(address, 'regtest')),
      })),
    signPsbt: async (hex, options) => {
      calls.push(options);
      return hex;
    },
    pushTx: async () => 'cd'.repeat(32),
    ...over,
  });

  it('connects with the first account and its public key', async () => {
    expect(await new ExtensionWallet(fake()).connect()).toEqual({ address, publicKeyHex: pub });
  });

  it('lists every coin across the wallet’s pages, in satoshis', async () => {
    const utxos = await new ExtensionWallet(fake()).listUtxos();
    expect(utxos).toHaveLength(130);
    expect(utxos[129]).toMatchObject({ vout: 129, valueSat: 1129n });
  });

  it('asks for script-path inputs with the untweaked key and key-path inputs without', async () => {
    const req: SignRequest = {
      purpose: 'unbonding',
      psbtHex: '70736274ff',
      psbtBase64: '',
      finalize: false,
      inputs: [
        { index: 0, publicKeyHex: pub, scriptPath: true },
        { index: 1, publicKeyHex: pub, scriptPath: false },
      ],
    };
    calls.length = 0;
    await new ExtensionWallet(fake()).signPsbt(req);
    expect(calls).toEqual([
      {
        autoFinalized: false,
        toSignInputs: [
          { index: 0, publicKey: pub, disableTweakSigner: true },
          { index: 1, publicKey: pub },
        ],
      },
    ]);
  });

  it('turns a rejection into one sentence with the wallet’s reason', async () => {
    const w = new ExtensionWallet(
      fake({ signPsbt: () => Promise.reject({ code: 4001, message: 'User rejected the request.' }) }),
    );
    const req = { purpose: 'staking', psbtHex: '', psbtBase64: '', finalize: true, inputs: [] } as const;
    expect(await failure(w.signPsbt(req))).toBe(
      'WEB_WALLET_REFUSED: The wallet did not sign the staking transaction: User rejected the request.',
    );
  });

  it('says plainly when the wallet cannot list its coins', async () => {
    expect(await failure(new ExtensionWallet(fake({ getBitcoinUtxos: undefined })).listUtxos())).toBe(
      'WEB_WALLET_UNSUPPORTED: This wallet does not list its coins (getBitcoinUtxos), so the page cannot fund a stake from it: use “Sign elsewhere”.',
    );
  });

  it('refuses a wallet whose public key is not a key', async () => {
    expect(await failure(new ExtensionWallet(fake({ getPublicKey: async () => 'zz' })).connect())).toMatch(
      /^WEB_WALLET_KEY: /,
    );
  });
});

describe('SignElsewhereWallet', () => {
  const scripted = (answers: Array<Record<string, string>>, seen: ManualStep[] = []) => ({
    ask: async (step: ManualStep) => {
      seen.push(step);
      const a = answers.shift();
      if (!a) throw new Error('cancelled');
      return a;
    },
  });

  it('connects with the address and public key a person pastes', async () => {
    const w = new SignElsewhereWallet(
      scripted([{ address: ` ${address} `, publicKey: pub.toUpperCase() }]),
      'regtest',
    );
    expect(await w.connect()).toEqual({ address, publicKeyHex: pub });
    expect(await w.listUtxos()).toBeUndefined();
  });

  it('shows the PSBT in base64 and takes the signed one back in base64 or hex', async () => {
    const psbt = psbtToSign();
    psbt.addInput({
      hash: 'ab'.repeat(32),
      index: 0,
      witnessUtxo: { script: outputScriptOf(address, 'regtest'), value: 10_000n },
    });
    psbt.addOutput({ script: outputScriptOf(address, 'regtest'), value: 9_000n });
    const signed = Psbt.fromBase64(psbt.toBase64());
    signed.signInput(0, signerOf(key));
    const seen: ManualStep[] = [];
    const w = new SignElsewhereWallet(
      scripted([{ signed: signed.toBase64() }, { signed: 'garbage' }], seen),
      'regtest',
    );
    const req: SignRequest = {
      purpose: 'withdraw',
      psbtHex: psbt.toHex(),
      psbtBase64: psbt.toBase64(),
      finalize: false,
      inputs: [{ index: 0, publicKeyHex: pub, scriptPath: true }],
    };
    expect(await w.signPsbt(req)).toBe(signed.toHex());
    expect(seen[0]!.show?.value).toBe(psbt.toBase64());
    expect(seen[0]!.explain).toContain('sign input 0 without finalizing');
    expect(await failure(w.signPsbt(req))).toBe(
      'WEB_PSBT_INVALID: This is not a PSBT: paste the signed PSBT in base64 or hex.',
    );
    // A finalized PSBT pasted as the signed transaction becomes the raw transaction.
    const tx = signedTxFromPaste(signed.toBase64(), 'regtest');
    expect(tx).toMatch(/^02000000/);
    expect(signedTxFromPaste(tx, 'regtest')).toBe(tx);
    expect(() => signedTxFromPaste(psbt.toBase64(), 'regtest')).toThrow(/not fully signed/);
  });

  it('judges a paste before its dialog closes: a bad one, or one the page’s check refuses, throws there', async () => {
    const seen: ManualStep[] = [];
    const refused: string[] = [];
    const check = (hex: string) => {
      refused.push(hex);
      throw new Error('not the one built');
    };
    const w = new SignElsewhereWallet(scripted([], seen), 'regtest');
    const psbt = psbtToSign();
    // The script has no answer: the flow ends as a cancel, after the step was shown.
    await expect(
      w.signPsbt({
        purpose: 'unbonding',
        psbtHex: psbt.toHex(),
        psbtBase64: psbt.toBase64(),
        finalize: false,
        inputs: [],
        check,
      }),
    ).rejects.toThrow('cancelled');
    const accept = seen[0]!.accept!;
    expect(() => accept({ signed: 'not a psbt' })).toThrow(
      'This is not a PSBT: paste the signed PSBT in base64 or hex.',
    );
    expect(refused).toEqual([]);
    expect(() => accept({ signed: psbt.toBase64() })).toThrow('not the one built');
    expect(refused).toEqual([psbt.toHex()]);
    await expect(w.fundAndSign('00', check)).rejects.toThrow('cancelled');
    expect(() => seen[1]!.accept!({ signed: 'zz' })).toThrow(/not a PSBT|not a transaction/i);
  });
});

describe('web error codes', () => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  it.each(Object.keys(WEB_ERRORS))('%s has the room prefix and is documented in web/README.md', (code) => {
    expect(code.startsWith('WEB_')).toBe(true);
    expect(readme).toContain(`\`${code}\``);
  });
});
