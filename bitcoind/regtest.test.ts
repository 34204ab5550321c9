import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection } from '../test/rejection.ts';
import { freePort, portRangesOutsideEphemeral, startRegtestNode } from './regtest.ts';

// Stand-ins for bitcoind: shell scripts that misbehave in one way each, so the launcher's failure paths
// run in milliseconds without a real node.
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fake-bitcoind-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fakeBin(name: string, body: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `#!/bin/sh\ncase "$1" in -version) echo "Fake daemon"; exit 0;; esac\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

describe('startRegtestNode failures', () => {
  it('reports BITCOIND_NOT_INSTALLED with the install command when the binary is missing', async () => {
    const err = await rejection(startRegtestNode({ bitcoindBin: join(dir, 'missing') }));
    expect(err.code).toBe('BITCOIND_NOT_INSTALLED');
    expect(err.message).toContain('bash bitcoind/scripts/install-knots.sh');
  });

  it('reports BITCOIND_EXITED with the last log lines when the daemon dies during start-up', async () => {
    const bin = await fakeBin('dies', 'echo "Error: Invalid parameter -foo" >&2; exit 1');
    const err = await rejection(startRegtestNode({ bitcoindBin: bin }));
    expect(err.code).toBe('BITCOIND_EXITED');
    expect(err.message).toContain('exited with code 1');
    expect(err.message).toContain('Error: Invalid parameter -foo');
    // The temporary data directory does not outlive a failed start.
    expect(existsSync(String(err.details?.dataDir))).toBe(false);
  });

  it('reports BITCOIND_START_TIMEOUT and kills a daemon whose RPC never answers', async () => {
    const pidFile = join(dir, 'hang.pid');
    const bin = await fakeBin('hangs', `echo $$ > '${pidFile}'; exec sleep 60`);
    const err = await rejection(startRegtestNode({ bitcoindBin: bin, startTimeoutMs: 300 }));
    expect(err.code).toBe('BITCOIND_START_TIMEOUT');
    expect(existsSync(String(err.details?.dataDir))).toBe(false);
    const pid = Number(await readFile(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('passes the regtest arguments and keeps a caller-given data directory', async () => {
    const dataDir = join(dir, 'given');
    const bin = await fakeBin('argdump', `printf '%s\\n' "$@" > '${join(dataDir, 'args')}'; exit 3`);
    const err = await rejection(startRegtestNode({ bitcoindBin: bin, dataDir, extraArgs: ['-rest=1'] }));
    expect(err.code).toBe('BITCOIND_EXITED');
    const args = (await readFile(join(dataDir, 'args'), 'utf8')).trim().split('\n');
    expect(args).toEqual(
      expect.arrayContaining([
        `-datadir=${dataDir}`,
        '-regtest',
        '-txindex=1',
        '-listen=0',
        '-rpcbind=127.0.0.1',
        '-rpcallowip=127.0.0.1',
        '-fallbackfee=0.0001',
        '-addresstype=bech32m',
        '-server=1',
        '-printtoconsole=0',
      ]),
    );
    expect(args.at(-1)).toBe('-rest=1');
    // The password never reaches the command line: only the salted -rpcauth hash does.
    expect(args.some((a) => a.startsWith('-rpcpassword'))).toBe(false);
    expect(args.find((a) => a.startsWith('-rpcauth='))).toMatch(
      /^-rpcauth=regtest-[0-9a-f]{8}:[0-9a-f]{32}\$[0-9a-f]{64}$/,
    );
    // -rejectparasites is a Knots option; a non-Knots binary must not get it.
    expect(args.some((a) => a.startsWith('-rejectparasites'))).toBe(false);
    expect(existsSync(dataDir)).toBe(true);
  });
});

describe('freePort', () => {
  it("hands out distinct loopback ports that bind, none from the kernel's ephemeral range", async () => {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
    expect(new Set(ports).size).toBe(200);
    for (const port of ports) {
      expect(port >= lo! && port <= hi!, `port ${port} in ${lo}-${hi}`).toBe(false);
      expect(port).toBeGreaterThanOrEqual(10_000);
    }
    for (const port of ports.slice(0, 20)) {
      await new Promise<void>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
      });
    }
  });

  it('draws from below and above the ephemeral range, and from nothing when the kernel has it all', () => {
    expect(portRangesOutsideEphemeral([32_768, 60_999])).toEqual([
      [10_000, 32_767],
      [61_000, 65_535],
    ]);
    expect(portRangesOutsideEphemeral([1024, 65_535])).toEqual([]);
    expect(portRangesOutsideEphemeral([5_000, 40_000])).toEqual([[40_001, 65_535]]);
    expect(portRangesOutsideEphemeral([20_000, 65_535])).toEqual([[10_000, 19_999]]);
  });
});
