// biome-ignore-all lint/suspicious/noExplicitAny: the injected wallet crosses into the page untyped
/**
 * What the dashboard's browser tests share (not a test file): Debian's Chromium under
 * playwright-core, and a test wallet injected as `window.unisat` whose keys stay in this process
 * and sign through an exposed function, as an extension's keys stay in the extension.
 */
import { Psbt, payments } from 'bitcoinjs-lib';
import { type BrowserContext, chromium } from 'playwright-core';
import { btcToSat } from '../bitcoind/index.ts';
import { ecc, toHex } from '../common/index.ts';
import type { DemoSystem } from '../demo/system.ts';
import { bitcoinjsNetwork } from '../web/txbuild.ts';
import { testKey } from './keys.ts';

export const CHROMIUM = '/usr/bin/chromium';
// The machine notes' flags: without the background-networking ones Chromium keeps calling out of
// this closed network.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestWallet {
  readonly address: string;
  readonly pub: Uint8Array;
  readonly xOnlyHex: string;
  /** Every raw transaction the page asked the wallet to broadcast. */
  readonly broadcast: string[];
  /** When set, the wallet declines the next signature, as a person clicking "Reject" would. */
  rejectNextSignature: boolean;
  /** The address's coins, read from the chain (no wallet on the node knows this key). */
  coins(): Promise<Array<{ txid: string; vout: number; satoshis: number; scriptPk: string }>>;
}

/** A P2WPKH wallet of the test key `name` on the demo system's regtest chain. */
export function testWallet(
  sys: () => DemoSystem,
  name: string,
): TestWallet & {
  call(method: string, args: any[]): Promise<unknown>;
} {
  const staker = testKey(name);
  const pub = ecc.pointFromScalar(staker.privateKey, true)!;
  const address = payments.p2wpkh({ pubkey: pub, network: bitcoinjsNetwork('regtest') }).address!;
  const signer = {
    publicKey: pub,
    sign: (h: Uint8Array) => ecc.sign(h, staker.privateKey),
    signSchnorr: (h: Uint8Array) => ecc.signSchnorr(h, staker.privateKey, new Uint8Array(32)),
  };
  const w = {
    address,
    pub,
    xOnlyHex: toHex(staker.xOnly),
    broadcast: [] as string[],
    rejectNextSignature: false,
    async coins() {
      const r = await sys().node.rpc.call<{
        unspents: Array<{ txid: string; vout: number; scriptPubKey: string; amount: number }>;
      }>('scantxoutset', ['start', [`addr(${address})`]]);
      return r.unspents.map((u) => ({
        txid: u.txid,
        vout: u.vout,
        satoshis: Number(btcToSat(u.amount)),
        scriptPk: u.scriptPubKey,
      }));
    },
    /** The subset of UniSat's API the dashboard uses. */
    async call(method: string, args: any[]): Promise<unknown> {
      switch (method) {
        case 'requestAccounts':
          return [address];
        case 'getPublicKey':
          return toHex(pub);
        case 'getBitcoinUtxos':
          return (await w.coins()).slice(args[0] ?? 0, (args[0] ?? 0) + (args[1] ?? 100));
        case 'signPsbt': {
          if (w.rejectNextSignature) {
            w.rejectNextSignature = false;
            return { rejected: { code: 4001, message: 'User rejected the request.' } };
          }
          const [hex, options] = args as [
            string,
            { autoFinalized: boolean; toSignInputs: Array<{ index: number; publicKey: string }> },
          ];
          const psbt = Psbt.fromHex(hex, { network: bitcoinjsNetwork('regtest') });
          for (const i of options.toSignInputs) {
            if (i.publicKey !== toHex(pub)) throw new Error(`asked to sign for ${i.publicKey}`);
            psbt.signInput(i.index, signer);
            if (options.autoFinalized) psbt.finalizeInput(i.index);
          }
          return psbt.toHex();
        }
        case 'pushTx': {
          const rawtx = (args[0] as { rawtx: string }).rawtx;
          w.broadcast.push(rawtx);
          return sys().node.rpc.sendrawtransaction(rawtx);
        }
        default:
          throw new Error(`the test wallet has no method ${method}`);
      }
    },
  };
  return w;
}

/** Chromium with a fresh profile and `wallet` injected as `window.unisat` into every page. */
export async function launchWithWallet(
  profileDir: string,
  wallet: { call(method: string, args: any[]): Promise<unknown> },
  opts: { viewport: { width: number; height: number }; bypassCSP?: boolean },
): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: opts.viewport,
    bypassCSP: opts.bypassCSP ?? false,
  });
  await context.exposeFunction('__testWallet', (method: string, args: any[]) => wallet.call(method, args));
  await context.addInitScript(() => {
    const call = async (method: string, ...args: unknown[]) => {
      const r = await (window as any).__testWallet(method, args);
      if (r && typeof r === 'object' && 'rejected' in r) throw r.rejected;
      return r;
    };
    (window as any).unisat = {
      requestAccounts: () => call('requestAccounts'),
      getPublicKey: () => call('getPublicKey'),
      getBitcoinUtxos: (cursor?: number, size?: number) => call('getBitcoinUtxos', cursor ?? 0, size ?? 100),
      signPsbt: (hex: string, options: unknown) => call('signPsbt', hex, options),
      pushTx: (args: unknown) => call('pushTx', args),
    };
  });
  return context;
}
