import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { AuditLog } from './audit.ts';
import { createSignerMetrics, tipRefresher } from './metrics.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'signer-metrics-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const value = async (m: ReturnType<typeof createSignerMetrics>, name: string) =>
  (await m.registry.getSingleMetric(name)!.get()).values[0]?.value;

describe('the tip at scrape time', () => {
  it('takes the node’s answer', async () => {
    const m = createSignerMetrics('test');
    await tipRefresher(m.bitcoindTip, async () => 812, 1_000)();
    expect(await value(m, 'signer_bitcoind_tip_height')).toBe(812);
  });

  it('a node that never answers does not hold the scrape, and the last tip stays', async () => {
    const m = createSignerMetrics('test');
    m.bitcoindTip.set(700);
    let calls = 0;
    const refresh = tipRefresher(
      m.bitcoindTip,
      () => {
        calls++;
        return new Promise<number>(() => undefined);
      },
      20,
    );
    await refresh();
    await refresh();
    expect(await value(m, 'signer_bitcoind_tip_height')).toBe(700);
    // The second scrape waited on the first one's RPC instead of sending another to a silent node.
    expect(calls).toBe(1);
  });

  it('a node that fails leaves the last tip', async () => {
    const m = createSignerMetrics('test');
    m.bitcoindTip.set(700);
    await tipRefresher(m.bitcoindTip, async () => Promise.reject(new Error('ECONNREFUSED')), 1_000)();
    expect(await value(m, 'signer_bitcoind_tip_height')).toBe(700);
  });
});

describe('audit anchor failures', () => {
  it('are reported for the failing batch and for every append refused after it', async () => {
    const custody = new MemoryAuditCustody();
    const failures: number[] = [];
    const log = await AuditLog.open(join(dir, 'audit.jsonl'), custody, undefined, (n) => failures.push(n));
    await log.append({ event: 'start' });
    expect(failures).toEqual([]);
    // Another writer moves the anchor (an accept under a live signer): the next anchor write fails.
    const other = await AuditLog.accept(join(dir, 'audit.jsonl'), custody, 'a second writer');
    expect(other.record.event).toBe('audit_log_accepted');
    await expect(log.append({ event: 'decision', outcome: 'refused' })).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_UNWRITABLE',
    });
    await expect(log.append({ event: 'stop' })).rejects.toMatchObject({ code: 'SIGNER_AUDIT_UNWRITABLE' });
    expect(failures).toEqual([1, 1]);
    expect(log.failure).toMatch(/anchor moved/);
    await log.close();
  });
});
