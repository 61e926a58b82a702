// The benchmark's tables, in Markdown (printed, and written next to the JSON for BENCHMARKS.md): failures
// and lost writes, latency and deploy times, and what the kernel and the supervisor paid.

import type { CellResult } from './cell.js';

export interface Machine {
  readonly date: string;
  /** The 1-minute load average when the run started: other work on the machine skews every number. */
  readonly loadAverage1m: number;
  readonly cores: number;
  readonly cpu: string;
  readonly node: string;
  readonly kernel: string;
  readonly somaxconn: number;
  /** Median wall time of `node -e 0`, the floor under any deploy that starts a new Node process. */
  readonly nodeStartMedianMs: number;
}

export interface BenchRun {
  readonly command: string;
  readonly machine: Machine;
  readonly config: Record<string, unknown>;
  readonly wallMs: number;
  readonly cells: readonly CellResult[];
  readonly errors: readonly string[];
}

export function renderTables(run: BenchRun): string {
  const { cells, machine } = run;
  const lines: string[] = [];
  const row = (cells: ReadonlyArray<string | number>) => lines.push(`| ${cells.join(' | ')} |`);
  const head = (titles: readonly string[]) => {
    row(titles);
    row(titles.map((_title, i) => (i < 2 ? '---' : '---:')));
  };

  lines.push('**Failures and data**', '');
  head([
    'daemon',
    'way',
    'deploys ok',
    'requests',
    'failed',
    'failed / 1,000 deploys',
    'acked writes',
    'lost (read back)',
    'lost (log reopened)',
    'reads of another value',
  ]);
  for (const c of cells) {
    const w = c.writes;
    row([
      c.kind,
      c.way,
      `${c.deploys.ok}/${c.deploys.attempted}`,
      c.requests.sent,
      c.requests.failed,
      c.requests.failedPer1000Deploys,
      w ? w.acked : '–',
      w ? w.lostServed : '–',
      w ? w.lostOnDisk : '–',
      w ? w.wrongReads : '–',
    ]);
  }

  lines.push('', '**Latency and deploy time** (ms)', '');
  head([
    'daemon',
    'way',
    'steady p50 / p99 / max',
    'during deploys p50 / p99 / max',
    'trigger → done median / p99',
    '÷ node start',
    'accept gap median / max',
  ]);
  for (const c of cells) {
    const s = c.latencyMs.steady;
    const d = c.latencyMs.duringDeploys;
    const t = c.triggerToDoneMs;
    const g = c.acceptGapMs;
    row([
      c.kind,
      c.way,
      `${s.p50} / ${s.p99} / ${s.max}`,
      `${d.p50} / ${d.p99} / ${d.max}`,
      `${t.median} / ${t.p99}`,
      `${(t.median / machine.nodeStartMedianMs).toFixed(1)}×`,
      g.count
        ? `${g.median} / ${g.max}${g.count < c.deploys.attempted ? ` (${g.count} of ${c.deploys.attempted})` : ''}`
        : '–',
    ]);
  }

  lines.push('', '**Kernel and supervisor**', '');
  head([
    'daemon',
    'way',
    'ListenOverflows Δ',
    'ListenDrops Δ',
    'supervisor RSS before → after (MB)',
    'fds before → after',
    'supervisor CPU / deploy (ms)',
    'steady req/s',
  ]);
  for (const c of cells) {
    const sup = c.supervisor;
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    row([
      c.kind,
      c.way,
      c.kernel.listenOverflows,
      c.kernel.listenDrops,
      sup ? `${mb(sup.before.rssKb)} → ${mb(sup.after.rssKb)}` : '–',
      sup ? `${sup.before.fds} → ${sup.after.fds}` : '–',
      sup ? sup.cpuMsPerDeploy : '–',
      c.requests.steadyPerSecond,
    ]);
  }

  const notes = cells.flatMap((c) => {
    const out: string[] = [];
    const errors = Object.entries(c.requests.errors).map(([e, n]) => `${e} ×${n}`);
    if (errors.length) out.push(`- ${c.kind} / ${c.way}: failed requests: ${errors.join(', ')}`);
    if (c.kind === 'kv' && c.requests.errors['HTTP 404']) {
      out.push(`  (HTTP 404: a read of an acknowledged key that the serving instance does not have)`);
    }
    if (c.deploys.failures.length) {
      const first = [...new Set(c.deploys.failures)].slice(0, 3).join('; ');
      out.push(`- ${c.kind} / ${c.way}: ${c.deploys.failures.length} deploys failed: ${first}`);
    }
    if (c.writes?.diskNote) out.push(`- ${c.kind} / ${c.way}: ${c.writes.diskNote}`);
    if (c.phasesMedianMs) {
      const p = c.phasesMedianMs;
      out.push(
        `- ${c.kind} / ${c.way}: handoff phases (median ms): successor spawn→Hello ${p.spawnToHelloMs}, drain ${p.drainMs}, seal ${p.sealMs}, begin→ready ${p.beginToReadyMs}, trigger→commit ${p.totalMs}`,
      );
    }
    return out;
  });
  if (notes.length || run.errors.length) {
    lines.push('', ...notes, ...run.errors.map((e) => `- error: ${e}`));
  }
  lines.push(
    '',
    `${machine.date}, ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, Linux ${machine.kernel}, ` +
      `somaxconn ${machine.somaxconn}, load average ${machine.loadAverage1m} at start; node -e 0 starts in ${machine.nodeStartMedianMs} ms (median); ` +
      `run took ${(run.wallMs / 1000).toFixed(0)} s: \`${run.command}\``,
  );
  return `${lines.join('\n')}\n`;
}
