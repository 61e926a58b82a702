// The demo's report: requests by kind, acknowledged writes found after the run, each handoff's outcome and
// phase times, the accept gap, and client latency in steady state and during handoffs.

import { acceptGapEstimateMs, type HandoffReport } from '../src/supervisor/report.js';
import type { DemoLoad } from './demo-load.js';

export interface DemoResult {
  readonly load: DemoLoad;
  readonly reports: readonly HandoffReport[];
  /** [start, end] of each handoff, in load time (ms). */
  readonly windows: ReadonlyArray<readonly [number, number]>;
  readonly lost: readonly string[];
  readonly dir: { readonly log: string };
}

/** The p-th percentile of ascending `sorted` (nearest rank below); 0 when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Count, p50, p99 and max of `values` in ms, rounded to 0.1 ms. */
export function latency(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

/** Prints the report (text or JSON) and returns the number of failed checks. */
export function printReport(result: DemoResult, json: boolean): number {
  const { load, reports, windows, lost } = result;
  const kinds = Object.fromEntries(load.stats);
  const totals = [...load.stats.values()].reduce(
    (t, s) => ({
      sent: t.sent + s.sent,
      ok: t.ok + s.ok,
      failed: t.failed + s.failed,
      retried: t.retried + s.retried,
    }),
    { sent: 0, ok: 0, failed: 0, retried: 0 },
  );
  const during = (at: number) => windows.some(([from, to]) => at >= from && at <= to);
  const steady = latency(load.samples.filter((s) => !during(s.at)).map((s) => s.latencyMs));
  const inHandoff = latency(load.samples.filter((s) => during(s.at)).map((s) => s.latencyMs));
  const gaps = reports.map(acceptGapEstimateMs).filter((gap) => gap !== undefined);
  const committed = reports.filter((r) => r.status === 'committed').length;
  const rolledBack = reports.filter((r) => r.status === 'rolled back').length;
  const expectedCommits = reports.length - 1;
  const summary = {
    handoffs: {
      committed,
      rolledBack,
      failed: reports.filter((r) => r.status === 'failed').length,
      reports,
    },
    requests: { ...totals, byKind: kinds },
    writes: { acked: load.acked.size, found: load.acked.size - lost.length, lost: lost.length },
    reads: { wrongValue: load.wrongReads },
    latencyMs: { steady, duringHandoffs: inHandoff },
    acceptGapMs: latency(gaps),
    log: result.dir.log,
  };
  const checks: Array<[boolean, string]> = [
    [committed === expectedCommits, `${committed} of ${expectedCommits} handoffs to good builds committed`],
    [
      rolledBack === 1 && reports.at(-1)?.status === 'rolled back',
      'the handoff to the broken build rolled back',
    ],
    [totals.failed === 0, `${totals.failed} of ${totals.sent} requests failed`],
    [lost.length === 0, `${lost.length} of ${load.acked.size} acknowledged writes lost`],
    [load.wrongReads === 0, `${load.wrongReads} reads returned a value other than the acknowledged one`],
  ];
  const failures = checks.filter(([ok]) => !ok).length;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ ...summary, ok: failures === 0 }, (_k, v) => (typeof v === 'bigint' ? String(v) : v), 2)}\n`,
    );
    return failures;
  }
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out('requests                      sent       ok   failed  retried');
  for (const [kind, s] of load.stats) {
    const why = Object.entries(s.errors)
      .map(([e, n]) => `${e}×${n}`)
      .join(' ');
    out(
      `  ${kind.padEnd(24)} ${String(s.sent).padStart(8)} ${String(s.ok).padStart(8)} ${String(s.failed).padStart(8)} ${String(s.retried).padStart(8)}  ${why}`,
    );
  }
  out(
    `  ${'total'.padEnd(24)} ${String(totals.sent).padStart(8)} ${String(totals.ok).padStart(8)} ${String(totals.failed).padStart(8)} ${String(totals.retried).padStart(8)}`,
  );
  out();
  out(
    `acknowledged writes: ${load.acked.size}, found after the run: ${load.acked.size - lost.length}, lost: ${lost.length}`,
  );
  out(
    `client latency (ms)  steady: p50 ${steady.p50} p99 ${steady.p99} max ${steady.max}   during handoffs: p50 ${inHandoff.p50} p99 ${inHandoff.p99} max ${inHandoff.max}`,
  );
  const gap = latency(gaps);
  out(`accept gap (ms, drain + seal + begin→ready, an upper bound): median ${gap.p50}, max ${gap.max}`);
  out();
  out('handoff                                status       drain    seal  begin→ready   total');
  for (const r of reports) {
    const p = r.phases;
    const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1)).padStart(7);
    out(
      `  ${r.handoffId}  ${r.status.padEnd(11)} ${f(p.drainMs)} ${f(p.sealMs)} ${f(p.beginToReadyMs)}      ${f(p.totalMs)}${r.reason ? `  (${r.reason})` : ''}`,
    );
  }
  out();
  for (const [ok, text] of checks) out(`${ok ? 'ok  ' : 'FAIL'}  ${text}`);
  return failures;
}
