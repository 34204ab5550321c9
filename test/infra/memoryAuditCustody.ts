import { createHmac, randomBytes } from 'node:crypto';
import { CodedError } from '../../common/index.ts';
import { anchorIs } from '../../hsm/auditFiles.ts';
import type { AuditCustody } from '../../hsm/index.ts';

/**
 * A boundary fake of custody's audit capability for unit tests: HMAC-SHA256 with a key in memory and
 * the anchor in a variable, with the same compare-and-replace rule as the real backends (which run
 * in hsm/ and the integration tests). `anchor` is exposed so a test can play an attacker who cannot
 * touch it, or the operator who restores custody too.
 */
export class MemoryAuditCustody implements AuditCustody {
  readonly description = 'memory (unit tests)';
  readonly #key: Buffer;
  anchor: Uint8Array | undefined;
  macCalls = 0;

  constructor(key: Buffer = randomBytes(32)) {
    this.#key = key;
  }

  async mac(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    this.macCalls++;
    return messages.map((m) => Uint8Array.from(createHmac('sha256', this.#key).update(m).digest()));
  }

  async readAnchor(): Promise<Uint8Array | undefined> {
    return this.anchor?.slice();
  }

  async writeAnchor(next: Uint8Array, expected: Uint8Array | undefined): Promise<void> {
    if (!anchorIs(this.anchor, expected))
      throw new CodedError('HSM_AUDIT_ANCHOR_CONFLICT', 'the anchor moved');
    this.anchor = next.slice();
  }
}
