#!/usr/bin/env -S npx tsx
import { parseArgs } from 'node:util';
import { answerStandardCommand, runMain, untilStopSignal } from '../common/index.ts';
import { startPipeline } from './app.ts';
import { loadPipelineConfig } from './config.ts';

const HELP = `unbonding-pipeline: turns stored unbonding requests into fully signed unbonding transactions

Usage:
  npx tsx pipeline/main.ts start --config <pipeline.toml> [--once]
      Claims due requests (several instances never claim the same one), re-checks each against the
      node and the params, asks every configured covenant signer over mutual TLS, keeps the first
      quorum of signatures that verify, builds the witness and broadcasts. --once: one round, then
      exit (cron-style). SIGTERM/SIGINT: finish the requests in hand, then exit.
      Every option can be overridden from the environment: PIPELINE__<SECTION>__<KEY>.

Docs: pipeline/README.md`;

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const standard = answerStandardCommand(command, HELP);
  if (standard !== undefined) return standard;
  if (command !== 'start') {
    console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, once: { type: 'boolean' } },
  });
  if (!values.config) {
    console.error('start needs --config <pipeline.toml>');
    return 2;
  }
  const p = await startPipeline(loadPipelineConfig(values.config), { once: values.once ?? false });
  if (values.once) {
    await p.stop();
    return 0;
  }
  await untilStopSignal(() => p.stop());
  return 0;
}

runMain('unbonding-pipeline', main);
