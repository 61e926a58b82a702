// `npm run demo`: the kv daemon under `handoff run`, real HTTP load for the whole run, N handoffs to new
// builds plus one to a broken build that must roll back by itself, then every acknowledged write read back.
// Prints a report (or --json) and exits non-zero if any request failed or any acknowledged write was lost.
// Each build is named (kv 1.0.0, 1.0.1, …), so every line shows which build handed over to which.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type HandoffRun, ROOT, startHandoffRun } from '../bench/handoff-run.js';
import { sendTrigger } from '../src/cli/trigger.js';
import type { HandoffReport } from '../src/supervisor/report.js';
import { DemoLoad } from './demo-load.js';
import { type DemoResult, printReport } from './demo-report.js';

const USAGE = `usage: npm run demo [-- options]

Runs the kv example daemon under \`handoff run\` with HTTP load, hands it to N new builds and then to a
broken one (which must roll back by itself), reads every acknowledged write back, and prints a report.

options:
  --handoffs N   handoffs to new builds before the broken one (default: 5)
  --json         print the report as JSON
  --keep         keep the temporary directory (config, data, supervisor log)
  -h, --help     show this help
`;

const OPTIONS = {
  handoffs: { type: 'string', default: '5' },
  json: { type: 'boolean', default: false },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseCommandLine() {
  try {
    return parseArgs({ options: OPTIONS, strict: true }).values;
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const values = parseCommandLine();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const handoffCount = Number(values.handoffs);
if (!Number.isInteger(handoffCount) || handoffCount < 0) {
  process.stderr.write(`demo: --handoffs must be a non-negative integer, got ${values.handoffs}\n`);
  process.exit(2);
}

const KV = join(ROOT, 'examples/kv/bin/kv');
const KV_BROKEN = join(ROOT, 'examples/kv/bin/kv-broken');

/**
 * A named build of the kv daemon: an executable in `dir` that execs the kv daemon (so the pid the supervisor
 * spawned is the daemon's) with `--build-id <name>`, which the daemon announces in its Hello.
 */
function makeBuild(dir: string, name: string, daemon: string = KV): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nexec ${JSON.stringify(daemon)} --build-id ${JSON.stringify(name)} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}
const say = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-demo-'));
  say(`handoff demo: kv daemon under \`handoff run\` in ${dir}`);
  let supervisor: HandoffRun | undefined;
  process.once('SIGINT', () => void (supervisor?.stop() ?? Promise.resolve()).then(() => process.exit(130)));
  try {
    const builds = join(dir, 'builds');
    mkdirSync(builds);
    supervisor = await startHandoffRun({
      dir,
      binary: makeBuild(builds, 'kv-1.0.0'),
      args: ['--log-level', 'warn'],
    });
    const { port, paths } = supervisor;
    say(`supervisor pid ${supervisor.pid} holds 127.0.0.1:${port}; logs in ${paths.log}`);
    const load = new DemoLoad(port);
    load.start({ keepAliveWriters: 4, keepAliveReaders: 4, freshWriters: 2, freshReaders: 2 });
    say('load: 4 keep-alive writers, 4 keep-alive readers, 2+2 new-connection clients');
    await delay(1500);

    const reports: HandoffReport[] = [];
    const windows: Array<[number, number]> = [];
    const run = async (label: string, binary: string) => {
      const started = load.elapsedMs();
      const steps: string[] = [];
      const reply = await sendTrigger(paths.trigger, `handoff --stream ${binary}`, (step, ms) => {
        steps.push(`${step} +${ms}`);
      });
      windows.push([started, load.elapsedMs()]);
      const report = reply.report as HandoffReport;
      reports.push(report);
      const builds = `${report.incumbent.buildId} → ${report.successor.buildId ?? basename(binary)}`;
      say(
        `  ${label.padEnd(9)} ${builds.padEnd(28)} ${report.status.padEnd(11)} ${report.phases.totalMs?.toFixed(0).padStart(5)} ms  ${report.reason ?? steps.join(' → ')}`,
      );
      return report;
    };
    say(`handoffs (${handoffCount} to new builds, then 1 to a build that fails at start):`);
    for (let i = 1; i <= handoffCount; i++) {
      await run(`#${i}`, makeBuild(builds, `kv-1.0.${i}`));
      await delay(1000);
    }
    await run('#broken', makeBuild(builds, 'kv-1.1.0-broken', KV_BROKEN));
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
