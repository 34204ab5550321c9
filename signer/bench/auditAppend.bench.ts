// The audit log's cost per batch of one, through the real pkcs11 custody on a SoftHSM token: what a
// signer at 1 in flight pays per decision besides validation, signing and HTTP.
//   npm run bench:signer:audit [-- <appends=2000> <rounds=5>]
// Prints the process CPU (user + system) per serial append, and per call of each part alone: the
// custody MAC of a batch of one (record + anchor), the anchor write, the O_DSYNC line write. Rounds
// alternate the parts so that a neighbour's load spreads over all of them; medians and the range.
// It makes its own SoftHSM token directory and log (removed afterwards), and ends with
// `RESULT append_cpu_ms=… mac_cpu_ms=… anchor_cpu_ms=… dsync_write_cpu_ms=… append_wall_ms=…`.

import { constants } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, initToken, openCustody, parseCustodyConfig } from '../../hsm/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { createSoftHsmDir } from '../../test/infra/softhsm.ts';
import { type AuditFields, AuditLog } from '../audit.ts';

const N = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 5);

const hsm = await createSoftHsmDir();
const dir = await mkdtemp(join(tmpdir(), 'audit-bench-'));
try {
  const config = parseCustodyConfig({
    backend: 'pkcs11',
    pkcs11: { token_label: 'bench', pin_file: await hsm.secretFile('pin', '1234') },
  });
  const logger = { warn() {}, info() {} };
  await initToken(config, { soPin: { file: await hsm.secretFile('so', 'so-1234') } });
  await generateKey(config, { logger });
  const custody = await openCustody(config, { logger });
  const audit = custody.audit;
  const log = await AuditLog.open(join(dir, 'audit.jsonl'), audit);

  // A phase-1 decision as the service records it (signer/service.ts).
  const decision = (i: number): AuditFields => ({
    event: 'decision',
    correlation_id: `bench-${i.toString().padStart(8, '0')}-0000-4000-8000-000000000000`,
    caller: 'bench-client',
    staking_txid: 'ab'.repeat(32),
    staking_vout: 0,
    unbonding_txid: 'cd'.repeat(32),
    params_version: 3,
    covenant_key: 'ef'.repeat(32),
    outcome: 'signed',
    signature: '12'.repeat(64),
  });

  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let i = 0;
  const mac = async () => {
    await audit.mac([Buffer.alloc(104), Buffer.alloc(1100)]);
  };
  // The anchor written alone, compare-and-set from the value last written, as the log does; put
  // back afterwards (the log's own, valid anchor), so the log reopens.
  let last: Buffer = Buffer.alloc(0);
  const anchor = async () => {
    const next = Buffer.from(last);
    next[20] = (next[20]! + 1) % 256;
    await audit.writeAnchor(next, last);
    last = next;
  };
  const fh = await open(
    join(dir, 'lines'),
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC,
    0o600,
  );
  const line = `${'x'.repeat(700)}\n`;
  const write = async () => {
    await fh.write(line);
  };

  const parts: [string, () => Promise<void>][] = [
    ['append (whole batch of one)', async () => {}],
    ['custody MAC, 2 messages', mac],
    ['anchor write', anchor],
    ['O_DSYNC write, 700 B', write],
  ];
  const results = new Map<string, { cpu: number[]; wall: number[] }>(
    parts.map(([name]) => [name, { cpu: [], wall: [] }]),
  );
  let current = log;
  const round = async (n: number, record: boolean) => {
    for (const [name, fn] of parts) {
      let run = fn;
      let restore: Buffer | undefined;
      if (name === 'anchor write') {
        restore = Buffer.from((await audit.readAnchor())!);
        last = restore;
      }
      if (name.startsWith('append')) {
        // Reopened: the anchor part moved custody's anchor under it (its next write would rightly conflict).
        await current.close();
        current = await AuditLog.open(join(dir, 'audit.jsonl'), audit);
        run = async () => {
          await current.append(decision(i++));
        };
      }
      const c0 = cpuMs();
      const w0 = performance.now();
      for (let k = 0; k < n; k++) await run();
      if (record) {
        results.get(name)!.cpu.push((cpuMs() - c0) / n);
        results.get(name)!.wall.push((performance.now() - w0) / n);
      }
      if (restore) {
        await audit.writeAnchor(restore, last);
        last = restore;
      }
    }
  };
  await round(300, false); // warm-up, as a running signer is
  for (let r = 0; r < ROUNDS; r++) await round(N, true);
  await current.close();
  await fh.close();
  await custody.close();

  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const f = (x: number) => x.toFixed(3);
  console.log(`audit log, batches of one, ${N} per round, ${ROUNDS} rounds (median [min–max]):`);
  for (const [name, { cpu, wall }] of results) {
    console.log(
      `  ${name.padEnd(30)} CPU ${f(med(cpu))} ms [${f(Math.min(...cpu))}–${f(Math.max(...cpu))}]   wall ${f(med(wall))} ms`,
    );
  }
  const cpuOf = (name: string) => med(results.get(name)!.cpu);
  printResult({
    append_cpu_ms: cpuOf('append (whole batch of one)'),
    mac_cpu_ms: cpuOf('custody MAC, 2 messages'),
    anchor_cpu_ms: cpuOf('anchor write'),
    dsync_write_cpu_ms: cpuOf('O_DSYNC write, 700 B'),
    append_wall_ms: med(results.get('append (whole batch of one)')!.wall),
  });
} finally {
  await rm(dir, { recursive: true, force: true });
  await hsm.cleanup();
}
