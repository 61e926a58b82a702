// `npm run bench [-- --quick]`: the hello and kv daemons, each deployed by handoff, pm2 reload (cluster
// mode) and kill-and-restart under the same load on the same machine in one run, then the kv at each
// kv.log size of --kv-size (handoff with and without prepare, kill-and-restart); writes result.json,
// tables.md and the SVGs to --out, and prints the tables. Leaves no process and no generated data behind.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { type CellConfig, type CellResult, type CellSeries, LOAD_PROFILES, runCell } from './cell.js';
import { ROOT } from './handoff-run.js';
import { parseSize } from './kv-log.js';
import { killProcessesMentioning } from './proc.js';
import { type BenchRun, type Machine, renderTables } from './report.js';
import { runServerBench } from './servers/bench.js';
import { renderSizeSvg, renderSizeTable } from './size-report.js';
import { runSizes, type SizeCell } from './sizes.js';
import { measureStartUp, type StartUpResult, startUpSubjects } from './start-up.js';
import { type Panel, renderSvg } from './svg.js';
import { type DaemonKind, WAYS } from './ways/way.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    deploys: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    /** kv.log sizes for the data-size cells (`none` for none). Default: 1M,10M,100M,1G (--quick: 1M,100M). */
    'kv-size': { type: 'string' },
    /** Deploys per data-size cell. Default: 15 (--quick: 5). */
    'size-deploys': { type: 'string' },
    server: { type: 'string' },
  },
});
const quick = values.quick;
const deploys = Number(values.deploys ?? (quick ? 5 : values.server ? 20 : 100));
if (!Number.isInteger(deploys) || deploys < 1) {
  process.stderr.write(`bench: --deploys must be a positive integer, got ${values.deploys}\n`);
  process.exit(2);
}
const sizeDeploys = Number(values['size-deploys'] ?? (quick ? 5 : 15));
if (!Number.isInteger(sizeDeploys) || sizeDeploys < 1) {
  process.stderr.write(`bench: --size-deploys must be a positive integer, got ${values['size-deploys']}\n`);
  process.exit(2);
}
const sizeList = values['kv-size'] ?? (quick ? '1M,100M' : '1M,10M,100M,1G');
let sizes: Array<{ label: string; bytes: number }>;
try {
  sizes = sizeList === 'none' ? [] : sizeList.split(',').map((label) => ({ label, bytes: parseSize(label) }));
} catch (error) {
  process.stderr.write(`bench: --kv-size: ${(error as Error).message}\n`);
  process.exit(2);
}
const KINDS: readonly DaemonKind[] = ['hello', 'kv'];
/**
 * `--only kv`, `--only pm2`, `--only kv:handoff`: cells whose "kind:way" contains every part; the
 * data-size cells are "kv-size:<variant>" (`--only kv-size` runs only them).
 */
const selected = (kind: DaemonKind | 'kv-size', way: string) =>
  (values.only ?? '').split(',').every((part) => `${kind}:${way}`.includes(part));
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  if (values.server !== undefined) {
    return runServerBench({
      servers: values.server,
      deploys,
      quick,
      out: values.out,
      keep: values.keep,
      say,
    });
  }
  const startedMs = performance.now();
  const runDir = mkdtempSync(join(tmpdir(), 'handoff-bench-'));
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
  const out = values.out ?? join(ROOT, 'bench/results/tmp', stamp);
  mkdirSync(out, { recursive: true });
  const sweep = () => killProcessesMentioning(runDir);
  const onSignal = (signal: NodeJS.Signals) => {
    sweep();
    rmSync(runDir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const config: CellConfig = {
    deploys,
    warmupMs: quick ? 1000 : 2000,
    steadyMs: quick ? 2000 : 8000,
    pauseMs: 300,
    duringTailMs: 250,
    requestTimeoutMs: 5000,
    pauseAfterFailureMs: 10,
    runDir,
    pm2Home: join(runDir, 'pm2'),
  };
  const cells: CellResult[] = [];
  const series = new Map<string, CellSeries>();
  const errors: string[] = [];
  try {
    const machine = describeMachine(quick ? 10 : 30);
    say(
      `handoff bench: ${deploys} deploys per way per daemon; ${machine.cores} cores, Node ${machine.node}; node -e 0 = ${machine.nodeStartMedianMs} ms`,
    );
    // Spawn → Hello, interleaved with `node -e 0` (`--only start-up` runs just this).
    let startUp: StartUpResult[] = [];
    if (!values.only || values.only.includes('start-up')) {
      startUp = await measureStartUp(startUpSubjects(join(ROOT, 'dist')), quick ? 10 : 30, runDir);
      for (const r of startUp) say(`  start-up: ${r.name}: ${r.medianMs} ms (${r.ratio}× node -e 0)`);
    }
    for (const kind of KINDS) {
      for (const way of WAYS) {
        if (!selected(kind, way)) continue;
        say(`  ${kind} / ${way}…`);
        try {
          const cell = await runCell(kind, way, config, say);
          cells.push(cell.result);
          series.set(`${kind}/${way}`, cell.series);
          const r = cell.result;
          say(
            `    ${r.deploys.ok}/${r.deploys.attempted} deploys, ${r.requests.failed} of ${r.requests.sent} requests failed, trigger→done median ${r.triggerToDoneMs.median} ms (${(r.wallMs / 1000).toFixed(0)} s)`,
          );
        } catch (error) {
          const message = `${kind} / ${way}: ${error instanceof Error ? error.message : String(error)}`;
          errors.push(message);
          say(`    FAILED: ${message}`);
        } finally {
          const strays = sweep();
          if (strays.length)
            errors.push(`${kind} / ${way} left ${strays.length} processes; killed ${strays}`);
        }
      }
    }
    const sizeConfig: CellConfig = {
      ...config,
      deploys: sizeDeploys,
      steadyMs: quick ? 1000 : 3000,
    };
    if (sizes.length)
      say(`  kv.log sizes ${sizes.map((s) => s.label).join(', ')}: ${sizeDeploys} deploys each`);
    const sizeCells: SizeCell[] = await runSizes(
      sizes,
      sizeConfig,
      say,
      (variant) => selected('kv-size', variant),
      (message) => errors.push(message),
      () => {
        const strays = sweep();
        if (strays.length) errors.push(`a data-size cell left ${strays.length} processes; killed ${strays}`);
      },
    );
    const run: BenchRun & { startUp: StartUpResult[]; sizes: SizeCell[] } = {
      command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
      machine,
      config: { ...config, runDir: undefined, pm2Home: undefined, loadProfiles: LOAD_PROFILES },
      wallMs: Math.round(performance.now() - startedMs),
      cells,
      startUp,
      sizes: sizeCells,
      errors,
    };
    const tables = [
      renderTables(run),
      ...(startUp.length ? [renderStartUpTable(startUp)] : []),
      ...(sizeCells.length ? [renderSizeTable(sizeCells)] : []),
    ].join('\n');
    writeFileSync(join(out, 'result.json'), `${JSON.stringify(run, null, 1)}\n`);
    writeFileSync(join(out, 'tables.md'), tables);
    for (const kind of KINDS) {
      const panels: Panel[] = WAYS.flatMap((way) => {
        const s = series.get(`${kind}/${way}`);
        const c = cells.find((cell) => cell.kind === kind && cell.way === way);
        if (!s || !c) return [];
        const lost = c.writes ? `, ${c.writes.lostServed} acknowledged writes lost` : '';
        const title = `${way}: ${c.deploys.attempted} deploys, ${c.requests.failed} of ${c.requests.sent} requests failed${lost}`;
        return [{ title, ...s }];
      });
      if (panels.length === 0) continue;
      const title = `${kind} daemon: client latency under load, one line per deploy (${machine.date})`;
      writeFileSync(join(out, `${kind}.svg`), renderSvg(title, panels));
    }
    if (sizeCells.length) {
      const title = `kv daemon by kv.log size (${machine.date})`;
      writeFileSync(join(out, 'kv-size.svg'), renderSizeSvg(title, sizeCells));
    }
    say('');
    say(tables);
    say(`wrote ${relative(process.cwd(), out) || '.'}/{result.json,tables.md,*.svg}`);
    // The baselines may fail requests (that is what they show); handoff with prepare may not, and no way
    // may lose an acknowledged write.
    const handoffFailed =
      cells.some((c) => c.way === 'handoff' && (c.requests.failed > 0 || (c.writes?.lostServed ?? 0) > 0)) ||
      sizeCells.some(
        ({ variant, cell: c }) =>
          (variant === 'handoff, prepare' && c.requests.failed > 0) ||
          (c.writes?.lostServed ?? 0) + (c.writes?.lostOnDisk ?? 0) > 0,
      );
    return errors.length > 0 || handoffFailed ? 1 : 0;
  } finally {
    sweep();
    if (!values.keep) rmSync(runDir, { recursive: true, force: true });
  }
}

function renderStartUpTable(results: readonly StartUpResult[]): string {
  const rows = results.map((r) => `| ${r.name} | ${r.medianMs} | ${r.ratio}× |`);
  return `**Spawn → Hello** (median ms; each run interleaves every subject)\n\n| subject | ms | ÷ node -e 0 |\n| --- | ---: | ---: |\n${rows.join('\n')}\n`;
}

/** The machine, and the floor: the median wall time of `node -e 0` over `runs` starts. */
function describeMachine(runs: number): Machine {
  const startsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const from = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    startsMs.push(performance.now() - from);
  }
  startsMs.sort((a, b) => a - b);
  let somaxconn = Number.NaN;
  try {
    somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    // not Linux
  }
  return {
    date: new Date().toISOString().slice(0, 10),
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    kernel: release(),
    somaxconn,
    nodeStartMedianMs: Math.round(startsMs[Math.floor(runs / 2)]! * 10) / 10,
  };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
