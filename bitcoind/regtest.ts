import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { access, constants, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CodedError, isCodedError } from '../common/index.ts';
import type { BitcoindErrorCode } from './errors.ts';
import { RpcClient } from './rpcClient.ts';

/** Where bitcoind/scripts/install-knots.sh puts the Knots wrapper by default. */
export const DEFAULT_BITCOIND_BIN = fileURLToPath(new URL('../.cache/knots/bin/bitcoind', import.meta.url));

export interface RegtestNodeOptions {
  /** Use this data directory (created if missing, never deleted) instead of a fresh temporary one. */
  dataDir?: string;
  /** Keep the temporary data directory after stop(), e.g. to read its debug.log. */
  keepDataDir?: boolean;
  /** bitcoind to run; default: env BITCOIND_BIN, else `<repo>/.cache/knots/bin/bitcoind`. */
  bitcoindBin?: string;
  /** Publish raw blocks over ZMQ on a second free loopback port (`zmqBlockUrl`). */
  zmq?: boolean;
  /** More bitcoind arguments, appended last (so they override the defaults). */
  extraArgs?: readonly string[];
  /** How long to wait for the RPC server, milliseconds (default 30 000). */
  startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL, milliseconds (default 15 000). */
  stopTimeoutMs?: number;
  /** Per-call deadline of the node's RpcClient, milliseconds (default 30 000). */
  rpcTimeoutMs?: number;
}

/** A running regtest node owned by this process. */
export interface RegtestNode {
  /** Client for the node (no wallet path); `rpc.withWallet(name)` for wallet calls. */
  rpc: RpcClient;
  /** `http://127.0.0.1:<rpcPort>/`, without credentials. */
  rpcUrl: string;
  rpcPort: number;
  /** bitcoind's own pid (the wrapper execs it). */
  pid: number;
  dataDir: string;
  /** The node's RPC cookie, for another process that needs to reach this node. */
  cookieFile: string;
  /** `tcp://127.0.0.1:<port>` when started with `zmq: true`. */
  zmqBlockUrl?: string;
  /** Stops the node (SIGTERM, then SIGKILL after stopTimeoutMs) and removes a temporary data directory. Idempotent. */
  stop(): Promise<void>;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 50;
const START_ATTEMPTS = 3;

// Nodes still running when this process exits are killed, so a test that forgets stop() leaves no
// orphan daemon behind. Only synchronous work is possible in an 'exit' handler.
const live = new Map<ChildProcess, { dataDir: string; removeDir: boolean }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [child, { dataDir, removeDir }] of live) {
      child.kill('SIGKILL');
      if (removeDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

const knotsByBin = new Map<string, Promise<boolean>>();
// -rejectparasites exists only in Knots; Bitcoin Core refuses to start on an unknown option.
function isKnots(bin: string): Promise<boolean> {
  let known = knotsByBin.get(bin);
  if (!known) {
    known = promisify(execFile)(bin, ['-version'], { timeout: 10_000 }).then(
      ({ stdout }) => /knots/i.test(stdout),
      () => false,
    );
    knotsByBin.set(bin, known);
  }
  return known;
}

/**
 * A loopback port that was free a moment ago, for a process to be started on it.
 *
 * It is drawn at random from outside the kernel's ephemeral range (`ip_local_port_range`), where
 * the kernel itself never hands a port out: a port from `listen(0)` can be taken, before the
 * process binds it seconds later, by any outgoing connection on the machine, and a busy test run
 * opens thousands. A port is never handed out twice by one process.
 */
export async function freePort(): Promise<number> {
  const ranges = portRangesOutsideEphemeral();
  const size = ranges.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
  for (let attempt = 0; size > 0 && attempt < 64; attempt++) {
    let i = Math.floor(Math.random() * size);
    let port = 0;
    for (const [lo, hi] of ranges) {
      if (i <= hi - lo) {
        port = lo + i;
        break;
      }
      i -= hi - lo + 1;
    }
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    const taken = await listenAndRelease(port).then(
      () => false,
      () => true,
    );
    if (!taken) return port;
  }
  // No room outside the ephemeral range (a machine that gives it all to the kernel): let it choose.
  return listenAndRelease(0);
}

const handedOut = new Set<number>();
// Below this are the ports of services a machine may run (databases, brokers, caches).
const LOWEST_PORT = 10_000;

/** The port ranges from LOWEST_PORT to 65535 that the kernel does not pick ports from itself. */
export function portRangesOutsideEphemeral(
  ephemeral: readonly [number, number] = ephemeralPortRange(),
): [number, number][] {
  const [lo, hi] = ephemeral;
  const ranges: [number, number][] = [];
  if (lo > LOWEST_PORT) ranges.push([LOWEST_PORT, lo - 1]);
  if (hi < 65_535) ranges.push([Math.max(hi + 1, LOWEST_PORT), 65_535]);
  return ranges;
}

function ephemeralPortRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo! <= hi!) return [lo!, hi!];
  } catch {
    // not Linux: Linux's default range
  }
  return [32_768, 60_999];
}

/** Listens on `port` of 127.0.0.1 (0: one the kernel picks), closes, and gives the port it had. */
function listenAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      server.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error(`no port from listen(${port})`));
      });
    });
  });
}

// -rpcauth takes user:salt$HMAC-SHA256(salt, password), as share/rpcauth/rpcauth.py makes it, so the
// password exists only in this process's memory: not on the command line (visible in ps), not on disk.
function rpcAuth(user: string, password: string): string {
  const salt = randomBytes(16).toString('hex');
  const hash = createHmac('sha256', salt).update(password).digest('hex');
  return `${user}:${salt}$${hash}`;
}

async function tail(file: string, maxBytes = 4096): Promise<string> {
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      const text = buf.toString('utf8');
      // Drop a partial first line.
      return (start > 0 ? text.slice(text.indexOf('\n') + 1) : text).trimEnd();
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function exitText(exit: Exit): string {
  if (exit.error) return `could not be started (${exit.error.message})`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * Starts a private bitcoind in regtest mode as a child of this process: own temporary data directory,
 * free loopback ports, random RPC credentials, txindex, taproot active. Waits until its RPC answers.
 *
 * @throws {CodedError} `BITCOIND_NOT_INSTALLED` when the binary is missing (run
 *   `bash bitcoind/scripts/install-knots.sh`), `BITCOIND_EXITED` when it dies during start-up (the
 *   message ends with the tail of its debug.log), `BITCOIND_START_TIMEOUT` when its RPC does not answer in time.
 * @example
 * const node = await startRegtestNode();
 * try { const { rpc, address } = await fundedWallet(node); } finally { await node.stop(); }
 */
export async function startRegtestNode(opts: RegtestNodeOptions = {}): Promise<RegtestNode> {
  const bin = opts.bitcoindBin ?? process.env.BITCOIND_BIN ?? DEFAULT_BITCOIND_BIN;
  try {
    await access(bin, constants.X_OK);
  } catch (err) {
    throw new CodedError<BitcoindErrorCode>(
      'BITCOIND_NOT_INSTALLED',
      `no executable bitcoind at ${bin}; run \`bash bitcoind/scripts/install-knots.sh\` (or set BITCOIND_BIN)`,
      { cause: err, details: { bin } },
    );
  }
  const knots = await isKnots(bin);

  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'regtest-')));
  if (!ownDir) await mkdir(dataDir, { recursive: true });
  const removeDir = ownDir && !opts.keepDataDir;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(bin, knots, dataDir, removeDir, opts);
      } catch (err) {
        // Another process can take a port between freePort() and bitcoind's bind: try fresh ports.
        const portTaken = isCodedError(err, 'BITCOIND_EXITED') && /bind/i.test(String(err.details?.logTail));
        if (!portTaken || attempt >= START_ATTEMPTS) throw err;
      }
    }
  } catch (err) {
    if (removeDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function startOnce(
  bin: string,
  knots: boolean,
  dataDir: string,
  removeDir: boolean,
  opts: RegtestNodeOptions,
): Promise<RegtestNode> {
  const rpcPort = await freePort();
  const zmqBlockUrl = opts.zmq ? `tcp://127.0.0.1:${await freePort()}` : undefined;
  const user = `regtest-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  const args = [
    `-datadir=${dataDir}`,
    '-regtest',
    '-server=1',
    '-txindex=1',
    '-listen=0',
    '-rpcbind=127.0.0.1',
    '-rpcallowip=127.0.0.1',
    `-rpcport=${rpcPort}`,
    `-rpcauth=${rpcAuth(user, password)}`,
    '-fallbackfee=0.0001',
    '-addresstype=bech32m',
    '-printtoconsole=0',
    // Knots' anti-spam policy refuses wallet transactions whose anti-fee-sniping nLockTime looks like a
    // CAT-21 mint, which makes tests fail at random (reference/test-infrastructure.md §1.3).
    ...(knots ? ['-rejectparasites=0'] : []),
    ...(zmqBlockUrl ? [`-zmqpubrawblock=${zmqBlockUrl}`] : []),
    ...(opts.extraArgs ?? []),
  ];

  installExitHook();
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  let exit: Exit | undefined;
  void exited.then((e) => {
    exit = e;
    live.delete(child);
  });
  live.set(child, { dataDir, removeDir });

  const rpcUrl = `http://127.0.0.1:${rpcPort}/`;
  const rpc = new RpcClient({ url: rpcUrl, user, password, timeoutMs: opts.rpcTimeoutMs });
  const probe = rpc.withTimeout(2_000);
  const debugLog = join(dataDir, 'regtest', 'debug.log');
  const logTail = async () => [await tail(debugLog), stderr.trim()].filter(Boolean).join('\n');

  const kill = async () => {
    if (!exit) child.kill('SIGKILL');
    await exited;
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  for (;;) {
    if (exit) {
      const lines = await logTail();
      throw new CodedError<BitcoindErrorCode>(
        'BITCOIND_EXITED',
        `bitcoind ${exitText(exit)} before its RPC answered; last log lines:\n${lines || '(none)'}`,
        {
          cause: exit.error,
          details: { bin, dataDir, exitCode: exit.code, signal: exit.signal, logTail: lines },
        },
      );
    }
    try {
      await probe.getblockchaininfo();
      break;
    } catch (err) {
      // Not listening yet, or listening but still loading (RPC_IN_WARMUP, -28): keep waiting. Anything
      // else (bad credentials, a foreign server on the port) will not get better.
      const waiting =
        isCodedError(err, 'RPC_UNREACHABLE', 'RPC_TIMEOUT') ||
        (isCodedError(err, 'RPC_ERROR') && err.details?.rpcCode === -28);
      if (!waiting && !exit) {
        await kill();
        throw err;
      }
    }
    if (Date.now() > deadline) {
      await kill();
      const lines = await logTail();
      throw new CodedError<BitcoindErrorCode>(
        'BITCOIND_START_TIMEOUT',
        `bitcoind did not answer RPC on ${rpcUrl} within ${opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms; last log lines:\n${lines || '(none)'}`,
        { details: { bin, dataDir, logTail: lines } },
      );
    }
    await Promise.race([delay(POLL_INTERVAL_MS), exited]);
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exit) {
        // SIGTERM is bitcoind's orderly shutdown, same as RPC stop, and works even when RPC is stuck.
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
        });
        const outcome = await Promise.race([exited, timedOut]);
        // A pending timer would keep this process alive for the whole timeout.
        clearTimeout(timer);
        if (outcome === 'timeout') await kill();
      }
      await exited;
      if (removeDir) await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  return {
    rpc,
    rpcUrl,
    rpcPort,
    pid: child.pid!,
    dataDir,
    cookieFile: join(dataDir, 'regtest', '.cookie'),
    ...(zmqBlockUrl ? { zmqBlockUrl } : {}),
    stop,
  };
}

/**
 * Creates a descriptor wallet on `node`, mines 101 blocks to one of its bech32m addresses so that the
 * first coinbase (50 BTC) is spendable, and returns a client for that wallet and the address.
 */
export async function fundedWallet(
  node: Pick<RegtestNode, 'rpc'>,
  name = 'miner',
): Promise<{ rpc: RpcClient; address: string }> {
  await node.rpc.createwallet(name);
  const rpc = node.rpc.withWallet(name);
  const address = await rpc.getnewaddress('', 'bech32m');
  // 100 confirmations make a coinbase spendable (COINBASE_MATURITY).
  await rpc.generatetoaddress(101, address);
  return { rpc, address };
}
