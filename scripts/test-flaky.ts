// Flake detection for the crash matrix (the crate's CI runs it 20 times in a row): runs the matrix file N
// times (default 20), counts failures per scenario and the s-after-begin-sent race outcomes, keeps the
// TAP output of failed runs in .tmp/flaky/, prints a summary, and exits 1 if any scenario failed once.
//
// Usage: npm run test:flaky [-- <runs> [<test file>…]]

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const runs = Number(process.argv[2] ?? 20);
const files = process.argv.length > 3 ? process.argv.slice(3) : ['test/process/crash-matrix.test.ts'];
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`runs must be a positive integer, got ${process.argv[2]}`);
  process.exit(64);
}
const logDir = join(ROOT, '.tmp', 'flaky');
mkdirSync(logDir, { recursive: true });

/** Runs the files once with the TAP reporter; resolves with the output and the exit code. */
function runOnce(): Promise<{ output: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-concurrency=1', ...files],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('close', (code) => resolve({ output, code }));
  });
}

const failures = new Map<string, number[]>();
const passes = new Map<string, number>();
const raceOutcomes = new Map<string, number>();
const startedAt = performance.now();
for (let run = 1; run <= runs; run++) {
  const runStart = performance.now();
  const { output, code } = await runOnce();
  let failed = 0;
  for (const line of output.split('\n')) {
    // Top-level results only: "ok 3 - title" / "not ok 3 - title".
    const result = /^(not ok|ok) \d+ - (.*?)(?: # (?:SKIP|TODO).*)?$/.exec(line);
    if (result) {
      const [, status, title = ''] = result;
      if (status === 'ok') passes.set(title, (passes.get(title) ?? 0) + 1);
      else {
        failures.set(title, [...(failures.get(title) ?? []), run]);
        failed++;
      }
    }
    const race = /^# race outcome: (\w+) won$/.exec(line);
    if (race?.[1]) raceOutcomes.set(race[1], (raceOutcomes.get(race[1]) ?? 0) + 1);
  }
  if (failed > 0 || code !== 0) writeFileSync(join(logDir, `run-${run}.tap`), output);
  const runMs = performance.now() - runStart;
  console.log(
    `run ${run}/${runs}: ${failed === 0 && code === 0 ? 'pass' : `${failed} failed (exit ${code})`} in ${(runMs / 1000).toFixed(1)} s`,
  );
}

const totalMs = performance.now() - startedAt;
console.log(
  `\n${runs} runs of ${files.join(' ')} in ${(totalMs / 1000).toFixed(0)} s; ${new Set([...passes.keys(), ...failures.keys()]).size} scenarios`,
);
const races = [...raceOutcomes].map(([winner, count]) => `${winner} won ${count}×`).join(', ');
if (races) console.log(`s-after-begin-sent race: ${races}`);
if (failures.size === 0) {
  console.log('no scenario failed');
} else {
  console.log('scenarios that failed at least once (runs; logs in .tmp/flaky/):');
  for (const [title, failedRuns] of failures) {
    console.log(`  ${failedRuns.length}/${runs}  ${title}  (runs ${failedRuns.join(', ')})`);
  }
}
process.exit(failures.size === 0 ? 0 : 1);
