import { isCodedError } from '../common/index.ts';

/**
 * Runs a service's CLI entry point and exits with its code. An expected failure (a CodedError:
 * bad config, a failed self-test) is one line, `<name>: <CODE>: <sentence>`, and exit 1; anything
 * else is a bug and prints its stack.
 */
export function runMain(name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (isCodedError(e)) console.error(`${name}: ${e.code}: ${e.message}`);
      else console.error(e);
      process.exit(1);
    },
  );
}

/** Resolves after `stop()` completes, once SIGTERM or SIGINT arrives: a graceful shutdown. */
export function untilStopSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = () => {
      void stop().then(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

/**
 * Takes SIGHUP from now on, before the service starts. Node ends a process on SIGHUP when no
 * handler is installed, so a service that installed its reload handler only once started was
 * killed by a reload asked for during its start-up. A SIGHUP that arrives before `reloadWith` is
 * kept, and the reload runs once the service hands it over; later ones run it at once.
 */
export function takeSighup(): { reloadWith(reload: () => void): void } {
  let reload: (() => void) | undefined;
  let pending = false;
  process.on('SIGHUP', () => {
    if (reload) reload();
    else pending = true;
  });
  return {
    reloadWith(r) {
      reload = r;
      if (pending) {
        pending = false;
        r();
      }
    },
  };
}

/**
 * The commands every service CLI answers the same way: none (help, exit 2), `--help`/`-h`/`help`
 * (help, exit 0) and, where the service has one, `sample-config` (the commented sample, exit 0).
 * Returns the exit code, or undefined for any other command.
 */
export function answerStandardCommand(
  command: string | undefined,
  help: string,
  sampleConfig?: string,
): number | undefined {
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(help);
    return command ? 0 : 2;
  }
  if (command === 'sample-config' && sampleConfig !== undefined) {
    process.stdout.write(sampleConfig);
    return 0;
  }
  return undefined;
}
