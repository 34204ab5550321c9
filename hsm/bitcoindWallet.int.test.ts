import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Psbt } from 'bitcoinjs-lib';
import * as ecc from 'tiny-secp256k1';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, type RegtestNode, type RpcClient, startRegtestNode } from '../bitcoind/index.ts';
import { toHex } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import { buildSigningPsbt, pickSignature } from './bitcoindWallet.ts';
import type { BitcoindWalletCustodyConfig } from './config.ts';
import { descriptorChecksum } from './descriptor.ts';
import { exportBackup, generateKey, importKey, openCustody, parseCustodyConfig } from './index.ts';
import { encodeWif, xOnlyOfInfo } from './privateKey.ts';
import { unbondingRequestFor } from './testRequests.ts';

/** The bitcoind-wallet backend against a real Bitcoin Knots regtest wallet. */
let node: RegtestNode;
let dir: string;
const logger = { warn: vi.fn(), info: vi.fn() };
const opts = { logger };

function config(
  wallet: string,
  key?: Uint8Array,
  over: Record<string, unknown> = {},
): BitcoindWalletCustodyConfig {
  return parseCustodyConfig({
    backend: 'bitcoind-wallet',
    bitcoind_wallet: {
      url: node.rpcUrl,
      wallet,
      cookie_file: node.cookieFile,
      timeout_ms: 5_000,
      ...(key ? { key: toHex(key) } : {}),
      ...over,
    },
  }) as BitcoindWalletCustodyConfig;
}

function rpc(wallet: string): RpcClient {
  return node.rpc.withWallet(wallet);
}

beforeAll(async () => {
  node = await startRegtestNode();
  dir = await mkdtemp(join(tmpdir(), 'custody-wallet-'));
});
afterAll(async () => {
  await node?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('bitcoind-wallet custody', () => {
  it('takes the signature of the requested key and leaf, not the first one the wallet returns', async () => {
    const [a, b] = [testKey('wallet-two-a'), testKey('wallet-two-b')];
    await node.rpc.createwallet('two', { blank: true });
    for (const k of [a, b]) await importKey(config('two'), Uint8Array.from(k.privateKey), opts);
    const covenantKeys = [a.xOnly, b.xOnly, testKey('hsm-cov-y').xOnly];
    const forA = unbondingRequestFor(a.xOnly, { covenantKeys });
    const forB = { ...forA, key: b.xOnly };

    // A PSBT naming both keys: the wallet signs for both, in an order of its own.
    const psbt = buildSigningPsbt(forA);
    psbt.data.inputs[0]!.tapBip32Derivation!.push({
      masterFingerprint: new Uint8Array(4),
      path: 'm',
      pubkey: b.xOnly,
      leafHashes: [forA.leaf.leafHash],
    });
    const answer = (await rpc('two').walletprocesspsbt(psbt.toBase64(), { finalize: false })).psbt;
    const sigs = Psbt.fromBase64(answer).data.inputs[0]!.tapScriptSig!;
    expect(sigs).toHaveLength(2);

    for (const req of [forA, forB]) {
      const sig = pickSignature(answer, req);
      expect(ecc.verifySchnorr(req.sighash, req.key, sig)).toBe(true);
    }
    // A signature by the right key for another leaf is not taken.
    const otherLeaf = { ...forA, leaf: { ...forA.leaf, leafHash: new Uint8Array(32).fill(1) } };
    expect(() => pickSignature(answer, otherLeaf)).toThrow(
      expect.objectContaining({ code: 'HSM_WALLET_NO_SIGNATURE' }),
    );

    const custody = await openCustody(config('two', b.xOnly), opts);
    expect(ecc.verifySchnorr(forB.sighash, b.xOnly, await custody.sign(forB))).toBe(true);
    await custody.close();
  });

  it('imports a key as wpkh(WIF) with a checksum the node agrees with', async () => {
    const k = testKey('wallet-import-check');
    await node.rpc.createwallet('imported', { blank: true });
    await importKey(config('imported'), Uint8Array.from(k.privateKey), opts);
    const { descriptors } = await rpc('imported').call<{ descriptors: { desc: string }[] }>(
      'listdescriptors',
      [true],
    );
    const body = `wpkh(${encodeWif(k.privateKey, 'test')})`;
    expect(descriptors.map((d) => d.desc)).toContain(`${body}#${descriptorChecksum(body)}`);
    const pub = `wpkh(${k.compressedHex})`;
    expect((await node.rpc.getdescriptorinfo(pub)).checksum).toBe(descriptorChecksum(pub));
  });

  it('an encrypted wallet: locked, it is refused (HSM_WALLET_LOCKED); unlocked, it signs; locked again, health says so', async () => {
    const passphrase = 'wallet passphrase for the test';
    await node.rpc.createwallet('locked', { passphrase });
    const info = await generateKey(config('locked'), opts);
    const key = xOnlyOfInfo(info);
    await expect(openCustody(config('locked', key), opts)).rejects.toMatchObject({
      code: 'HSM_WALLET_LOCKED',
    });

    await rpc('locked').call('walletpassphrase', [passphrase, 60]);
    const custody = await openCustody(config('locked', key), opts);
    const req = unbondingRequestFor(key);
    expect(ecc.verifySchnorr(req.sighash, key, await custody.sign(req))).toBe(true);
    expect((await custody.health()).detail).toMatch(/unlocked until/);

    await rpc('locked').call('walletlock');
    const h = await custody.health();
    expect(h.ok).toBe(false);
    expect(h.detail).toMatch(/locked/);
    await expect(custody.sign(req)).rejects.toMatchObject({ code: 'HSM_WALLET_LOCKED' });
    await custody.close();
  });

  it('refuses a wallet that does not hold the configured key (HSM_WALLET_KEY_NOT_FOUND)', async () => {
    await node.rpc.createwallet('other');
    await expect(openCustody(config('other', testKey('not-in-wallet').xOnly), opts)).rejects.toMatchObject({
      code: 'HSM_WALLET_KEY_NOT_FOUND',
    });
  });

  it('refuses a leaf the held key is not in (HSM_WALLET_NO_SIGNATURE)', async () => {
    const info = await generateKey(config('other'), opts);
    const key = xOnlyOfInfo(info);
    const custody = await openCustody(config('other', key), opts);
    const foreign = unbondingRequestFor(testKey('hsm-cov-z').xOnly);
    await expect(custody.sign({ ...foreign, key })).rejects.toMatchObject({
      code: 'HSM_WALLET_NO_SIGNATURE',
    });
    await custody.close();
  });

  it('keeps the audit anchor in the wallet node, as an address label, replaced only from the value it expects', async () => {
    const info = await generateKey(config('other'), opts);
    const cfg = config('other', Buffer.from(info.xOnly, 'hex'), { audit_key_file: join(dir, 'audit.key') });
    let custody = await openCustody(cfg, opts);
    try {
      expect(await custody.audit.readAnchor()).toBeUndefined();
      await custody.audit.writeAnchor(Buffer.from('first'), undefined);
      await custody.audit.writeAnchor(Buffer.from('second'), Buffer.from('first'));
      await expect(custody.audit.writeAnchor(Buffer.from('x'), Buffer.from('first'))).rejects.toMatchObject({
        code: 'HSM_AUDIT_ANCHOR_CONFLICT',
      });
      const mac = toHex((await custody.audit.mac([Buffer.from('m')]))[0]!);
      await custody.close();
      custody = await openCustody(cfg, opts);
      // The same key file: the same MAC; the anchor survives, in the wallet, not on this host.
      expect(toHex((await custody.audit.mac([Buffer.from('m')]))[0]!)).toBe(mac);
      expect(Buffer.from((await custody.audit.readAnchor())!).toString()).toBe('second');
      const labels = (await rpc('other').call<string[]>('listlabels')).filter((l) =>
        l.includes('audit-anchor'),
      );
      expect(labels).toEqual([
        `babylon-covenant-signer/audit-anchor/${Buffer.from('second').toString('hex')}`,
      ]);
    } finally {
      await custody.close();
    }
  });

  it('opens without audit_key_file, but offers no audit key: the signer cannot start on it (HSM_CONFIG_MISSING_KEY)', async () => {
    const info = await generateKey(config('other'), opts);
    const custody = await openCustody(config('other', Buffer.from(info.xOnly, 'hex')), opts);
    try {
      for (const call of [() => custody.audit.mac([Buffer.from('x')]), () => custody.audit.readAnchor()]) {
        await expect(call()).rejects.toMatchObject({
          code: 'HSM_CONFIG_MISSING_KEY',
          details: { field: 'custody.bitcoind_wallet.audit_key_file' },
        });
      }
    } finally {
      await custody.close();
    }
  });

  it('refuses a wallet that is not loaded (HSM_WALLET_NOT_LOADED)', async () => {
    await expect(openCustody(config('never-created', testKey('k').xOnly), opts)).rejects.toMatchObject({
      code: 'HSM_WALLET_NOT_LOADED',
    });
  });

  it('refuses wrong credentials (HSM_WALLET_AUTH) and an unreachable node (HSM_WALLET_UNREACHABLE)', async () => {
    const passwordFile = join(dir, 'rpc.password');
    await writeFile(passwordFile, 'wrong', { mode: 0o600 });
    const badAuth = config('other', testKey('k').xOnly);
    const withUser = parseCustodyConfig({
      backend: 'bitcoind-wallet',
      bitcoind_wallet: {
        url: node.rpcUrl,
        wallet: 'other',
        user: 'nobody',
        password_file: passwordFile,
        key: toHex(badAuth.key!),
      },
    });
    await expect(openCustody(withUser, opts)).rejects.toMatchObject({ code: 'HSM_WALLET_AUTH' });
    const port = await freePort();
    const down = parseCustodyConfig({
      backend: 'bitcoind-wallet',
      bitcoind_wallet: {
        url: `http://127.0.0.1:${port}`,
        wallet: 'w',
        cookie_file: node.cookieFile,
        key: toHex(badAuth.key!),
      },
    });
    await expect(openCustody(down, opts)).rejects.toMatchObject({ code: 'HSM_WALLET_UNREACHABLE' });
  });

  it('refuses to open without a configured key (HSM_CONFIG_MISSING_KEY)', async () => {
    await expect(openCustody(config('other'), opts)).rejects.toMatchObject({
      code: 'HSM_CONFIG_MISSING_KEY',
    });
  });

  it('passes on a wallet RPC failure as HSM_WALLET_ERROR: generate-key in a blank wallet has no keys to give', async () => {
    await node.rpc.createwallet('blank', { blank: true });
    await expect(generateKey(config('blank'), opts)).rejects.toMatchObject({ code: 'HSM_WALLET_ERROR' });
  });

  it('generate-key refuses when the config already names a key (HSM_KEY_EXISTS)', async () => {
    await expect(generateKey(config('other', testKey('k').xOnly), opts)).rejects.toMatchObject({
      code: 'HSM_KEY_EXISTS',
    });
  });

  it('export-backup is not offered: the key never leaves the wallet (HSM_CEREMONY_UNSUPPORTED)', async () => {
    await expect(
      exportBackup(config('other', testKey('k').xOnly), {
        ...opts,
        out: join(dir, 'b.json'),
        passphrase: { env: 'X' },
      }),
    ).rejects.toMatchObject({ code: 'HSM_CEREMONY_UNSUPPORTED' });
  });
});
