import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The alerting rules, as Prometheus itself reads them: promtool (Debian's `prometheus` package,
 * provisioned by test/infra/provision.sh) checks their syntax and runs their unit tests, in which
 * every alert fires on a synthetic failure and stays quiet on a healthy series. Each alert has a
 * summary and a runbook section in the README.
 */
const run = promisify(execFile);
const DIR = fileURLToPath(new URL('../deploy/prometheus/', import.meta.url));
const RULES = readFileSync(join(DIR, 'alerts.yml'), 'utf8');
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

const promtool = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: DIR });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
};

const alerts = [...RULES.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);

describe('deploy/prometheus', () => {
  it('promtool check rules: the rules parse', async () => {
    const r = await promtool('check', 'rules', 'alerts.yml');
    expect(r.out).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('promtool test rules: each alert fires on its failure and stays quiet when healthy', async () => {
    const r = await promtool('test', 'rules', 'alerts.test.yml');
    if (r.code !== 0) console.error(r.out);
    expect(r.code).toBe(0);
    // Every alert appears in the unit tests.
    const tests = readFileSync(join(DIR, 'alerts.test.yml'), 'utf8');
    for (const a of alerts) expect(tests, a).toMatch(new RegExp(`alertname: ${a}\\b`));
  });

  it('promtool check config: the sample scrape configuration and its rule file', async () => {
    const r = await promtool('check', 'config', 'prometheus.yml');
    expect(r.code).toBe(0);
  });

  it('every alert has a summary and a runbook section in the README', () => {
    expect(alerts.length).toBeGreaterThan(10);
    const blocks = RULES.split(/^\s+- alert: /m).slice(1);
    expect(blocks).toHaveLength(alerts.length);
    for (const b of blocks) {
      const name = b.split('\n')[0]!;
      expect(b, name).toMatch(/summary: "/);
      const anchor = /runbook: "README\.md#([a-z0-9-]+)"/.exec(b)?.[1];
      expect(anchor, name).toBeDefined();
      const headings = [...README.matchAll(/^#+ (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      );
      expect(headings, `${name}'s runbook #${anchor}`).toContain(anchor);
    }
  });
});
