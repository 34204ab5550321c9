import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../bitcoind/index.ts';

/**
 * A private RabbitMQ broker for tests that need to stop and restart one (broker faults), and a
 * fallback when the machine's broker is not running. Started as in
 * reference/test-infrastructure.md §3: the real server script run directly (not the su wrapper),
 * with its own node name, data dir, config, plugins file, Erlang cookie (its own HOME), epmd port,
 * AMQP port and distribution port, all on 127.0.0.1. Stopped by its pid; its epmd by `epmd -kill`.
 */
const SBIN = '/usr/lib/rabbitmq/bin';
const execFileP = promisify(execFile);

export interface PrivateBroker {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** beam.smp's pid while running. */
  pid(): number | undefined;
  /** Stops the broker (SIGTERM to its pid, SIGKILL after 20 s); the data dir stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port, node name and data dir (durable queues come back). */
  restart(): Promise<void>;
  /** Stops it, stops its epmd, removes the dir. Idempotent. */
  destroy(): Promise<void>;
}

export function rabbitmqInstalled(): boolean {
  return existsSync(join(SBIN, 'rabbitmq-server'));
}

const live = new Set<PrivateBroker>();
let hook = false;

export async function startPrivateBroker(opts: { startTimeoutMs?: number } = {}): Promise<PrivateBroker> {
  if (!rabbitmqInstalled())
    throw new Error('rabbitmq-server is not installed (apt-get install rabbitmq-server)');
  const dir = await mkdtemp(join(tmpdir(), 'rabbit-'));
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const node = `test${randomBytes(4).toString('hex')}@localhost`;
  await mkdir(join(dir, 'home'), { recursive: true });
  await writeFile(
    join(dir, 'rabbitmq.conf'),
    [`listeners.tcp.1 = 127.0.0.1:${port}`, 'loopback_users.guest = true', 'log.console = false', ''].join(
      '\n',
    ),
  );
  await writeFile(join(dir, 'enabled_plugins'), '[].\n');
  await writeFile(join(dir, 'rabbitmq-env.conf'), '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_PID_FILE: join(dir, 'rabbit.pid'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(epmdPort),
    LANG: 'C.UTF-8',
  };
  let child: ChildProcess | undefined;
  let beamPid: number | undefined;

  const start = async () => {
    rmSync(env.RABBITMQ_PID_FILE!, { force: true });
    child = spawn(join(SBIN, 'rabbitmq-server'), [], { env, stdio: 'ignore', detached: true });
    child.unref();
    const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
    // Ready when the AMQP port accepts connections (rabbitmqctl wait would add seconds of CLI start-up).
    while (Date.now() < deadline) {
      if (child.exitCode !== null)
        throw new Error(`rabbitmq-server exited with ${child.exitCode} (logs in ${dir}/log)`);
      if (existsSync(env.RABBITMQ_PID_FILE!) && (await portOpen(port))) {
        beamPid = Number(readFileSync(env.RABBITMQ_PID_FILE!, 'utf8').trim());
        return;
      }
      await sleep(200);
    }
    throw new Error(`private RabbitMQ did not open port ${port} in time (logs in ${dir}/log)`);
  };

  const stop = async () => {
    const pid = beamPid;
    beamPid = undefined;
    if (!pid) return;
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (alive(pid) && Date.now() < deadline) await sleep(100);
    if (alive(pid)) signal(pid, 'SIGKILL');
    while (alive(pid)) await sleep(50);
  };

  let destroyed = false;
  const broker: PrivateBroker = {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    dir,
    pid: () => beamPid,
    stop,
    restart: start,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(broker);
      await stop();
      await execFileP('epmd', ['-port', String(epmdPort), '-kill'], { env }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  live.add(broker);
  if (!hook) {
    hook = true;
    process.once('exit', () => {
      for (const b of live) {
        const p = b.pid();
        if (p) signal(p, 'SIGKILL');
      }
    });
  }
  try {
    await start();
  } catch (e) {
    await broker.destroy();
    throw e;
  }
  return broker;
}

/**
 * The broker tests share: `RABBITMQ_URL` when set, else the machine's broker on 127.0.0.1:5672
 * when it answers, else a private broker started for this process (undefined `destroy` for the
 * machine's own).
 */
export async function sharedBroker(): Promise<{ url: string; destroy(): Promise<void> }> {
  const fromEnv = process.env.RABBITMQ_URL;
  if (fromEnv) return { url: fromEnv, destroy: async () => undefined };
  if (await portOpen(5672))
    return { url: 'amqp://guest:guest@127.0.0.1:5672', destroy: async () => undefined };
  const b = await startPrivateBroker();
  return { url: b.url, destroy: () => b.destroy() };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
