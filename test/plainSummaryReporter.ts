import type { Reporter, SerializedError, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own summary,
 * so that a CI reader that does not know vitest's format can still count what ran.
 *
 * A file that failed outside its tests (an import error, a failing beforeAll) leaves its tests
 * unrun, and vitest calls them skipped: here they count as failed, as does an unhandled error, so
 * the line never says "0 failed" about a run that failed. Under CI (the `CI` variable set, as
 * .ci/run sets it) a skipped test fails the run.
 */
export class PlainSummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
  ): void {
    const c = countOutcomes(testModules);
    const failed = c.failed + unhandledErrors.length;
    process.stdout.write(`\ntests: ${c.passed} passed, ${failed} failed, ${c.skipped} skipped\n`);
    // The reasons tests gave for skipping themselves (ctx.skip(note)), once each: they say what to fix.
    for (const [note, n] of skipNotes(testModules)) process.stdout.write(`skipped (${n}): ${note}\n`);
    // A skipped test is a claim nobody checked. CI has every dependency the tests need (shared/
    // beside the checkout, the provisioned node, token and packages), so there nothing may skip.
    if (process.env.CI && c.skipped > 0) {
      process.stderr.write(`tests: ${c.skipped} skipped, and CI allows none\n`);
      process.exitCode = 1;
    }
  }
}

export function countOutcomes(testModules: ReadonlyArray<TestModule>): {
  passed: number;
  failed: number;
  skipped: number;
} {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const mod of testModules) {
    const moduleFailed = mod.state() === 'failed';
    let failedHere = 0;
    for (const t of mod.children.allTests()) {
      const state = t.result().state;
      if (state === 'passed') passed++;
      else if (state === 'failed' || moduleFailed) failedHere++;
      else skipped++;
    }
    // A file that failed before any test could (nothing collected) is still one failure.
    failed += moduleFailed ? Math.max(failedHere, 1) : failedHere;
  }
  return { passed, failed, skipped };
}

/** Each distinct note of a skipped test, with how many tests gave it. */
export function skipNotes(testModules: ReadonlyArray<TestModule>): Map<string, number> {
  const notes = new Map<string, number>();
  for (const mod of testModules) {
    for (const t of mod.children.allTests()) {
      const r = t.result();
      if (r.state === 'skipped' && r.note) notes.set(r.note, (notes.get(r.note) ?? 0) + 1);
    }
  }
  return notes;
}
