import type { CustodyConfig } from './config.ts';
import type { CustodyBackend } from './custody.ts';
import type { CustodyLogger } from './logger.ts';

export interface OpenCustodyOptions {
  /** pino or anything with `warn(obj, msg)`; the file backend warns at every open. */
  readonly logger: CustodyLogger;
}

/**
 * Opens the configured custody backend. Each backend's module is imported only when selected, so a
 * wallet-backed signer never loads graphene-pk11 and its native addon (tmkms's compile features).
 * Every backend checks itself before it returns (fail closed): a signer never starts with custody
 * that cannot sign.
 * @throws {CodedError} HSM_… codes of the selected backend (see hsm/README.md)
 * @example
 * const custody = await openCustody(parseCustodyConfig(toml.custody), { logger });
 * const [key] = await custody.publicKeys();
 */
export async function openCustody(config: CustodyConfig, opts: OpenCustodyOptions): Promise<CustodyBackend> {
  switch (config.kind) {
    case 'pkcs11': {
      const { openPkcs11Custody } = await import('./pkcs11.ts');
      return openPkcs11Custody(config, opts);
    }
    case 'bitcoind-wallet': {
      const { openBitcoindWalletCustody } = await import('./bitcoindWallet.ts');
      return openBitcoindWalletCustody(config, opts);
    }
    case 'file': {
      const { openFileCustody } = await import('./fileBackend.ts');
      return openFileCustody(config, opts);
    }
    default: {
      const unknown: never = config;
      throw new Error(`unknown custody kind ${(unknown as { kind: string }).kind}`);
    }
  }
}
