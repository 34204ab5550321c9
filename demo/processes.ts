import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root: every service is started from its own `main.ts`, as an operator would. */
export const REPO = fileURLToPath(new URL('..', import.meta.url));

/** A service running as a child process of the demo, its output going to a log file. */
export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** `http://127.0.0.1:<port>` of its ops listener (/metrics, /healthz, /readyz). */
  readonly opsUrl: string;
  /** Whether it has exited, and how. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM (graceful shutdown), then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

// Children still running when the demo exits (a crash, an uncaught error) are killed, so it never
// leaves orphan services holding ports or queues.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a log file, to explain why a service did not come up. */
export function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts `npx tsx <script> <args>` from the repository root, its stdout and stderr appended to
 * `logFile`, and waits until `<opsUrl>/readyz` answers 200. Fails with the log's tail if the
 * process exits or is not ready within `readyTimeoutMs`.
 */
export async function startService(o: {
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly opsUrl: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
}): Promise<ServiceProcess> {
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ['--import', 'tsx', o.script, ...o.args], {
      cwd: REPO,
      env: { ...process.env, ...o.env },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  live.add(child);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve();
    });
    child.once('error', () => resolve());
  });
  const service: ServiceProcess = {
    name: o.name,
    pid: child.pid ?? -1,
    logFile: o.logFile,
    opsUrl: o.opsUrl,
    exit: () => exited,
    async stop(graceMs = 10_000) {
      if (exited || child.pid === undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited || child.pid === undefined) {
      throw new Error(
        `${o.name} exited during start-up (${exited?.signal ?? `code ${exited?.code}`}); its log ${o.logFile} ends:\n${tailOf(o.logFile)}`,
      );
    }
    try {
      const r = await fetch(`${o.opsUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (r.status === 200) return service;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await service.stop(2_000);
      throw new Error(
        `${o.name} was not ready at ${o.opsUrl}/readyz within ${o.readyTimeoutMs ?? 60_000} ms; its log ${o.logFile} ends:\n${tailOf(o.logFile)}`,
      );
    }
    await delay(150);
  }
}
