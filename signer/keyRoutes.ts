import type { FastifyInstance } from 'fastify';
import { Counter, Gauge } from 'prom-client';
import { CodedError, isCodedError } from '../common/index.ts';
import type { CustodyBackend } from '../hsm/index.ts';
import type { AuditFields } from './audit.ts';
import type { SignerMetrics } from './metrics.ts';

/**
 * The reference phase-2 signer's key routes (covenant-signer.md §2.2): GET /v1/public-key, POST
 * /v1/unlock, POST /v1/lock, mapped onto custody's lock. Refusals are thrown as coded errors, so
 * the server's error handler counts, logs and audits them like any other; the secret in an unlock
 * body never reaches a log line, an audit record or an error message.
 */
export function registerKeyRoutes(
  app: FastifyInstance,
  deps: {
    readonly custody: CustodyBackend;
    readonly heldKeys: () => ReadonlySet<string>;
    readonly metrics: SignerMetrics;
    readonly audit: (fields: AuditFields) => Promise<unknown>;
  },
): void {
  const { custody } = deps;
  const unlockStatus = new Gauge({
    name: 'signer_unlock_status',
    help: 'The reference signer’s gauge: 1 while custody signs, 0 while locked',
    registers: [deps.metrics.registry],
  });
  const failedUnlocks = new Counter({
    name: 'signer_failed_unlock_requests',
    help: 'The reference signer’s counter: POST /v1/unlock requests refused',
    registers: [deps.metrics.registry],
  });
  unlockStatus.set(custody.locked ? 0 : 1);
  const assertLockable = () => {
    if (!custody.lock || !custody.unlock)
      throw new CodedError('SIGNER_LOCK_UNSUPPORTED', `custody backend "${custody.kind}" has no lock`);
  };

  app.get('/v1/public-key', async () => {
    if (custody.locked) throw new CodedError('SIGNER_LOCKED', 'the signer is locked: POST /v1/unlock first');
    const [first] = [...deps.heldKeys()];
    if (!first) throw new CodedError('SIGNER_INTERNAL', 'custody holds no key');
    // The chain lifts an x-only covenant key to its even-Y point: that point, compressed.
    return { data: { public_key_hex: `02${first}` } };
  });

  app.post<{ Body: { passphrase?: string } | undefined }>(
    '/v1/unlock',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { passphrase: { type: 'string', maxLength: 1024 } },
        },
      },
    },
    async (req) => {
      assertLockable();
      try {
        await custody.unlock!(req.body?.passphrase ?? '');
      } catch (e) {
        failedUnlocks.inc();
        // Only the code: a backend's message never carries the secret, but nothing here depends on it.
        throw new CodedError('SIGNER_UNLOCK_FAILED', 'unlock refused: wrong passphrase or PIN', {
          cause: isCodedError(e) ? new Error(e.code) : undefined,
        });
      }
      unlockStatus.set(1);
      await deps.audit({ event: 'custody_unlocked', caller: req.clientName, correlation_id: req.id });
      return { data: {} };
    },
  );

  app.post('/v1/lock', async (req) => {
    assertLockable();
    await custody.lock!();
    unlockStatus.set(0);
    await deps.audit({ event: 'custody_locked', caller: req.clientName, correlation_id: req.id });
    return { data: {} };
  });
}
