import { defineConfig } from 'vitest/config';
import { PlainSummaryReporter } from './test/plainSummaryReporter.ts';

// Two projects: `unit` is pure and fast (beside the code); `integration` starts real processes
// (Bitcoin Knots, SoftHSM, RabbitMQ, PostgreSQL) and is provisioned by test/infra/provision.sh.
export default defineConfig({
  test: {
    reporters: ['default', new PlainSummaryReporter()],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{common,runtime,params,staking,bitcoind,hsm,signer,indexer,api,pipeline,events,db,demo,web}/**/*.test.ts',
          ],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
          setupFiles: ['test/infra/tempDirs.setup.ts'],
          // Unit tests first, then the integration files (they have different worker limits).
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          testTimeout: 120_000,
          setupFiles: ['test/infra/tempDirs.setup.ts'],
          hookTimeout: 120_000,
          // Each file starts its own node on its own port; two cores, so keep file parallelism modest.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
