import { pino } from 'pino';
import {
  type CustodyBackend,
  generateKey,
  initToken,
  openCustody,
  parseCustodyConfig,
} from '../../hsm/index.ts';
import { type Committee, startCommittee } from './signerHarness.ts';
import { createSoftHsmDir, type SoftHsmDir } from './softhsm.ts';

/** A committee of real signers whose keys were generated in SoftHSM tokens by the key ceremony. */
export interface SoftHsmCommittee {
  readonly committee: Committee;
  readonly custodies: readonly CustodyBackend[];
  readonly hsm: SoftHsmDir;
  stop(): Promise<void>;
}

export async function startSoftHsmCommittee(
  size: number,
  quorum: number,
  paramsOverride?: Record<string, unknown>,
): Promise<SoftHsmCommittee> {
  const logger = pino({ level: 'fatal' });
  const hsm = await createSoftHsmDir();
  const custodies: CustodyBackend[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const label = `committee-${i}`;
      const config = parseCustodyConfig({
        backend: 'pkcs11',
        pkcs11: { token_label: label, pin_file: await hsm.secretFile(`${label}.pin`, `pin-${label}`) },
      });
      await initToken(config, { soPin: { file: await hsm.secretFile(`${label}.so`, `so-${label}`) } });
      await generateKey(config, { logger });
      custodies.push(await openCustody(config, { logger }));
    }
    const committee = await startCommittee({
      custodies,
      quorum,
      ...(paramsOverride ? { paramsOverride } : {}),
    });
    return {
      committee,
      custodies,
      hsm,
      async stop() {
        await committee.stop();
        for (const c of custodies) await c.close();
        await hsm.cleanup();
      },
    };
  } catch (e) {
    for (const c of custodies) await c.close();
    await hsm.cleanup();
    throw e;
  }
}
