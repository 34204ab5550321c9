#!/usr/bin/env -S npx tsx
import { parseArgs } from 'node:util';
import { answerStandardCommand, runMain } from '../runtime/index.ts';
import { playScenarios, SCENARIO_TITLES } from './scenarios.ts';
import { type DemoSystem, startDemoSystem } from './system.ts';

const HELP = `staking demo: the whole system on loopback, and the reference demo's seven scenarios

Usage:
  npm run demo [-- options]     (= provision, build the dashboard, npx tsx demo/main.ts run)
  npx tsx demo/main.ts run [options]

Starts a regtest node (blocks mined on demand), three covenant signers whose keys the key-ceremony
CLI generates in SoftHSM tokens (mutual TLS, certificates made for the run), the indexer, the API
and the unbonding pipeline, against this machine's PostgreSQL (a database of the run's own) and
RabbitMQ (queue names of the run's own). A staker with a wallet on the node then plays, in order:
${SCENARIO_TITLES.map((t, i) => `  ${i + 1}. ${t}`).join('\n')}
Each step prints what it does and what it checked; the first unmet expectation stops the run with
exit status 1. Afterwards everything the demo started is stopped by process id and removed.

Options:
  --keep                  leave the system running after the scenarios and print its URLs;
                          Ctrl-C (SIGINT) or SIGTERM stops it
  --scenarios <n>         play only the first n scenarios
  --postgres-url <url>    maintenance connection to PostgreSQL (default: PG_ADMIN_URL or
                          postgres://postgres@127.0.0.1:5432/test)
  --rabbitmq-url <url>    the RabbitMQ broker (default: RABBITMQ_URL or amqp://guest:guest@127.0.0.1:5672)
  -h, --help              this text

Environment: DEMO_LOG_LEVEL sets the services' log level (default info); their logs are in
<demo dir>/logs while the system runs.`;

function printUrls(sys: DemoSystem): void {
  console.log(`
The system is running (Ctrl-C stops it):
  API and dashboard   ${sys.apiUrl}          (e.g. ${sys.apiUrl}/v1/stats, ${sys.apiUrl}/docs)
  API metrics         ${sys.urls.apiOps}/metrics
  indexer metrics     ${sys.urls.indexerOps}/metrics
  pipeline metrics    ${sys.urls.pipelineOps}/metrics
${sys.urls.signers.map((u, i) => `  signer ${i}            ${u} (mutual TLS), metrics ${sys.urls.signerOps[i]}/metrics`).join('\n')}
  bitcoind RPC        ${sys.node.rpcUrl} (cookie ${sys.node.cookieFile}), wallet "btcstaker"
  PostgreSQL database ${sys.database}; RabbitMQ prefix ${sys.queuePrefix}
  configs and logs    ${sys.dir}`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const standard = answerStandardCommand(command, HELP);
  if (standard !== undefined) return standard;
  if (command !== 'run') {
    console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      keep: { type: 'boolean' },
      scenarios: { type: 'string' },
      'postgres-url': { type: 'string' },
      'rabbitmq-url': { type: 'string' },
    },
  });
  const only = values.scenarios === undefined ? undefined : Number(values.scenarios);
  if (only !== undefined && !(Number.isInteger(only) && only >= 1 && only <= SCENARIO_TITLES.length)) {
    console.error(`--scenarios must be a whole number from 1 to ${SCENARIO_TITLES.length}`);
    return 2;
  }

  const t0 = performance.now();
  let sys: DemoSystem | undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    console.log('\nstopping everything the demo started…');
    void (sys?.stop() ?? Promise.resolve()).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  console.log('== Starting the system');
  try {
    sys = await startDemoSystem({
      log: (line) => console.log(`  -> ${line}`),
      ...(values['postgres-url'] ? { postgresAdminUrl: values['postgres-url'] } : {}),
      ...(values['rabbitmq-url'] ? { rabbitmqUrl: values['rabbitmq-url'] } : {}),
    });
  } catch (e) {
    // startDemoSystem has already stopped and removed whatever it had started.
    console.error(`demo: the system did not start: ${e instanceof Error ? e.message : String(e)}`);
    console.error('demo: stopped everything it had started');
    return 1;
  }
  console.log(`  ok every service is ready (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const results = await playScenarios(sys, (line) => console.log(line), only === undefined ? {} : { only });
  if (interrupted) return 130;

  const passed = results.filter((r) => r.ok).length;
  const wanted = only ?? SCENARIO_TITLES.length;
  console.log('\n== Summary');
  for (const r of results) {
    console.log(`  ${r.ok ? 'ok    ' : 'FAILED'} ${r.n}. ${r.title} (${(r.ms / 1000).toFixed(1)} s)`);
  }
  for (let n = results.length + 1; n <= wanted; n++)
    console.log(`  not played ${n}. ${SCENARIO_TITLES[n - 1]}`);
  console.log(
    `  ${passed} of ${wanted} scenarios passed in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );

  if (values.keep) {
    printUrls(sys);
    await new Promise(() => undefined); // until a signal; onSignal stops and exits
  }
  const pids = sys.services.map((s) => `${s.name} ${s.pid}`).join(', ');
  await sys.stop();
  console.log(
    `  stopped ${pids} and the regtest node; dropped database ${sys.database}; removed the queues and ${sys.dir}`,
  );
  return passed === wanted ? 0 : 1;
}

runMain('demo', main);
