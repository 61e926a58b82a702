// `npm run bench:import [-- --runs N]`: what importing the library adds to a Node process's start, the cost
// every daemon pays on every start. Runs `node -e …` for a bare start, an empty ES module, the package by
// name (the published bundle, from import and from require) and tsc's unbundled output, interleaved run by
// run so machine load hits every variant alike, and prints for each the median wall time and the median
// CPU time (user + system, which the child reports once the import has settled; less disturbed by other
// processes on a busy machine), each with its ratio to the bare start. A script, not a test; its numbers go
// in BENCHMARKS.md, "Import cost".

import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ROOT } from './handoff-run.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`--runs must be a positive integer, got ${values.runs}`);

const VARIANTS: ReadonlyArray<{ label: string; code: string }> = [
  { label: 'bare start', code: '0' },
  { label: 'an empty ES module', code: "import('data:text/javascript,')" },
  { label: "import('daemon-handoff')", code: "import('daemon-handoff')" },
  { label: "require('daemon-handoff')", code: "require('daemon-handoff')" },
  { label: "tsc's output, unbundled", code: "import('./dist/src/index.js')" },
];

/** One run of `node -e`: the wall time seen from here and the CPU time the child used, in ms. */
function timeOnce(code: string): { wallMs: number; cpuMs: number } {
  const script = `Promise.resolve(${code}).then(() => { const u = process.cpuUsage(); process.stdout.write(String(u.user + u.system)); })`;
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`node -e "${code}" failed: ${result.stderr.toString()}`);
  return { wallMs, cpuMs: Number(result.stdout.toString()) / 1000 };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const loadBefore = loadavg()[0]!;
const wall = VARIANTS.map(() => [] as number[]);
const cpu = VARIANTS.map(() => [] as number[]);
for (const variant of VARIANTS) timeOnce(variant.code); // warms the page cache; not counted
for (let i = 0; i < runs; i++) {
  for (const [j, variant] of VARIANTS.entries()) {
    const { wallMs, cpuMs } = timeOnce(variant.code);
    wall[j]!.push(wallMs);
    cpu[j]!.push(cpuMs);
  }
}
const bareWall = median(wall[0]!);
const bareCpu = median(cpu[0]!);

process.stdout.write(
  `node ${process.version}, ${runs} interleaved runs each, 1-minute load average ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}\n\n`,
);
process.stdout.write('| `node -e …` | wall, median (ms) | ÷ bare | CPU, median (ms) | ÷ bare |\n');
process.stdout.write('| --- | --: | --: | --: | --: |\n');
for (const [j, variant] of VARIANTS.entries()) {
  const w = median(wall[j]!);
  const c = median(cpu[j]!);
  process.stdout.write(
    `| ${variant.label} | ${w.toFixed(1)} | ${(w / bareWall).toFixed(2)}× | ${c.toFixed(1)} | ${(c / bareCpu).toFixed(2)}× |\n`,
  );
}
