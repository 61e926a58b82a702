// `npm run bench:rss [-- --handoffs N --every K]`: the supervisor's resident memory over many handoffs, with
// and without a cap on V8's young generation. Runs `handoff run` supervisors side by side (the bin as
// shipped, and plain `node` on the same code), each with the hello daemon, hands each off N times back to
// back, samples each supervisor's VmRSS every K handoffs, and reads its peak (VmHWM) at the end. A script,
// not a test; its numbers go in BENCHMARKS.md, "Supervisor memory".

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sendTrigger } from '../src/cli/trigger.js';
import { HANDOFF_BIN, HANDOFF_CLI, type HandoffRun, ROOT, startHandoffRun } from './handoff-run.js';
import { killProcessesMentioning, sampleProcess } from './proc.js';

const { values } = parseArgs({
  options: {
    handoffs: { type: 'string', default: '1000' },
    every: { type: 'string', default: '50' },
  },
});
const handoffs = Number(values.handoffs);
const every = Number(values.every);

/** Each variant is a way of starting the supervisor. */
const VARIANTS: ReadonlyArray<{ name: string; command: [string, ...string[]] }> = [
  { name: 'bin/handoff (young generation capped)', command: [HANDOFF_BIN] },
  { name: 'node, no flags', command: [process.execPath, HANDOFF_CLI] },
];

interface Series {
  readonly name: string;
  /** [handoffs done, RSS in MB] */
  readonly samples: Array<[number, number]>;
  failed: number;
  /** VmHWM after the last handoff: the most the supervisor was ever resident with, in MB. */
  peakMb?: number;
}

const mb = (kb: number) => Math.round(kb / 102.4) / 10;

async function drive(run: HandoffRun, series: Series): Promise<void> {
  const sample = (done: number) => {
    const rss = sampleProcess(run.pid)?.rssKb;
    if (rss !== undefined) series.samples.push([done, mb(rss)]);
  };
  sample(0);
  for (let done = 1; done <= handoffs; done++) {
    const reply = await sendTrigger(run.paths.trigger, 'handoff');
    if (!reply.result.includes('committed=true')) series.failed++;
    if (done % every === 0) sample(done);
  }
  const status = readFileSync(`/proc/${run.pid}/status`, 'utf8');
  series.peakMb = mb(Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-rss-'));
  const runs: HandoffRun[] = [];
  try {
    const series: Series[] = [];
    for (const [i, variant] of VARIANTS.entries()) {
      const runDir = join(dir, String(i));
      mkdirSync(runDir);
      const run = await startHandoffRun({
        dir: runDir,
        binary: process.execPath,
        args: [join(ROOT, 'dist/bench/hello-daemon.js')],
        logLevel: 'warn',
        command: variant.command,
      });
      runs.push(run);
      series.push({ name: variant.name, samples: [], failed: 0 });
    }
    await Promise.all(runs.map((run, i) => drive(run, series[i]!)));
    const rows = series[0]!.samples.map(([done], row) => [
      String(done),
      ...series.map((s) => s.samples[row]?.[1]?.toFixed(1) ?? '–'),
    ]);
    process.stdout.write(`| handoffs | ${series.map((s) => `${s.name} (MB)`).join(' | ')} |\n`);
    process.stdout.write(`| --: | ${series.map(() => '--:').join(' | ')} |\n`);
    for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
    process.stdout.write(
      `| peak (VmHWM) | ${series.map((s) => s.peakMb?.toFixed(1) ?? '–').join(' | ')} |\n`,
    );
    process.stdout.write(`failed handoffs: ${series.map((s) => `${s.name} ${s.failed}`).join(', ')}\n`);
  } finally {
    await Promise.all(runs.map((run) => run.stop()));
    killProcessesMentioning(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
