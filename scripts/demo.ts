// `npm run demo`: the kv daemon under `handoff run`, real HTTP load for the whole run, N handoffs to new
// builds plus one to a broken build that must roll back by itself, then every acknowledged write read back.
// Prints a report (or --json) and exits non-zero if any request failed or any acknowledged write was lost.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type HandoffRun, ROOT, startHandoffRun } from '../bench/handoff-run.js';
import { sendTrigger } from '../src/cli/trigger.js';
import type { HandoffReport } from '../src/supervisor/report.js';
import { DemoLoad } from './demo-load.js';
import { type DemoResult, printReport } from './demo-report.js';

const { values } = parseArgs({
  options: {
    handoffs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const handoffCount = Number(values.handoffs);
if (!Number.isInteger(handoffCount) || handoffCount < 0) {
  process.stderr.write(`demo: --handoffs must be a non-negative integer, got ${values.handoffs}\n`);
  process.exit(2);
}

const KV = join(ROOT, 'examples/kv/bin/kv');
const KV_BROKEN = join(ROOT, 'examples/kv/bin/kv-broken');
const say = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-demo-'));
  say(`handoff demo: kv daemon under \`handoff run\` in ${dir}`);
  let supervisor: HandoffRun | undefined;
  process.once('SIGINT', () => void (supervisor?.stop() ?? Promise.resolve()).then(() => process.exit(130)));
  try {
    supervisor = await startHandoffRun({ dir, binary: KV, args: ['--log-level', 'warn'] });
    const { port, paths } = supervisor;
    say(`supervisor pid ${supervisor.pid} holds 127.0.0.1:${port}; logs in ${paths.log}`);
    const load = new DemoLoad(port);
    load.start({ keepAliveWriters: 4, keepAliveReaders: 4, freshWriters: 2, freshReaders: 2 });
    say('load: 4 keep-alive writers, 4 keep-alive readers, 2+2 new-connection clients');
    await delay(1500);

    const reports: HandoffReport[] = [];
    const windows: Array<[number, number]> = [];
    const run = async (label: string, binary?: string) => {
      const started = load.elapsedMs();
      const steps: string[] = [];
      const reply = await sendTrigger(
        paths.trigger,
        `handoff --stream${binary ? ` ${binary}` : ''}`,
        (step, ms) => {
          steps.push(`${step} +${ms}`);
        },
      );
      windows.push([started, load.elapsedMs()]);
      const report = reply.report as HandoffReport;
      reports.push(report);
      say(
        `  ${label.padEnd(22)} ${report.status.padEnd(9)} ${report.phases.totalMs?.toFixed(0).padStart(5)} ms  ${report.reason ?? steps.join(' → ')}`,
      );
      return report;
    };
    say(`handoffs (${handoffCount} to new builds, then 1 to a build that fails at start):`);
    for (let i = 1; i <= handoffCount; i++) {
      await run(`#${i} → kv`);
      await delay(1000);
    }
    await run('#broken → kv-broken', KV_BROKEN);
    await delay(1000);
    await load.stop();
    say('load stopped; reading back every acknowledged write…');
    const lost = await load.verify();
    const result: DemoResult = { load, reports, windows, lost, dir: paths };
    const failures = printReport(result, values.json);
    return failures ? 1 : 0;
  } finally {
    await supervisor?.stop();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
