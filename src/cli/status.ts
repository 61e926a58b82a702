// `handoff status [--json]` and `handoff history [--json]`: what the running supervisor reports about the
// serving daemon, its probation, and the handoffs it remembers (a table, newest last).

import type { HandoffReport } from '../supervisor/report.js';
import type { FallBackRecord, HistoryEntry } from './history.js';
import { sendTrigger } from './trigger.js';

interface StatusReply {
  supervisorPid: number;
  daemon?: {
    pid: number;
    buildId?: string;
    binary: string;
    args: string[];
    controlSocketAnswers?: boolean;
    uptimeMs: number;
    adoptedAtUnixMs?: number;
  };
  restartsGaveUp?: { restarts: number; windowMs: number; lastExit: string; lastWords?: string };
  handoffs: { committed: number; rolledBack: number; failed: number; inProgress: boolean };
  restarts: number;
  probation?: { pid: number; binary: string; previous: string; endsAtUnixMs: number; failedProbes: number };
  lastFallBack?: FallBackRecord;
  rejectedBuild?: { binary: string; reason: string; atUnixMs: number };
  listeners: Array<{ name: string; addr: string; source?: string }>;
  dataDir?: string;
  lastReport?: HandoffReport;
  recent: HistoryEntry[];
}

export async function showStatus(triggerPath: string, json: boolean): Promise<number> {
  const reply = await sendTrigger(triggerPath, 'status');
  const status = reply.status as StatusReply | undefined;
  if (!status) {
    process.stderr.write(`handoff: ${reply.result}\n`);
    return 3;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  }
  const lines = [`supervisor pid ${status.supervisorPid}`];
  const d = status.daemon;
  const adopted =
    d?.adoptedAtUnixMs !== undefined ? `, adopted ${formatDuration(Date.now() - d.adoptedAtUnixMs)} ago` : '';
  lines.push(
    d
      ? `daemon     pid ${d.pid}, build ${d.buildId ?? '(control socket not answering)'}, up ${formatDuration(d.uptimeMs)}${adopted}`
      : status.restartsGaveUp
        ? `daemon     not running: gave up after ${status.restartsGaveUp.restarts} restarts (${status.restartsGaveUp.lastExit}${status.restartsGaveUp.lastWords ? `: ${status.restartsGaveUp.lastWords}` : ''}); \`handoff upgrade <binary>\` starts a build`
        : 'daemon     not running (restart pending)',
  );
  if (d) lines.push(`binary     ${[d.binary, ...d.args].join(' ')}`);
  for (const l of status.listeners) {
    lines.push(
      `listener   ${l.name} ${l.addr}${l.source && l.source !== 'bound' ? ` (from ${l.source === 'systemd' ? 'systemd' : 'the adopted daemon'})` : ''}`,
    );
  }
  if (status.dataDir) lines.push(`data dir   ${status.dataDir}`);
  const h = status.handoffs;
  lines.push(
    `handoffs   ${h.committed} committed, ${h.rolledBack} rolled back, ${h.failed} failed${h.inProgress ? ', one in progress' : ''}; ${status.restarts} restarts`,
  );
  const p = status.probation;
  if (p) {
    const left = formatDuration(Math.max(0, p.endsAtUnixMs - Date.now()));
    lines.push(
      `probation  pid ${p.pid} (${p.binary}) for ${left} more, ${p.failedProbes} failed probes; falls back to ${p.previous}`,
    );
  }
  const f = status.lastFallBack;
  if (f) {
    lines.push(
      `fell back  ${new Date(f.atUnixMs).toISOString()} from ${f.from.binary} (pid ${f.from.pid}) to ${f.to.binary} by ${f.how}: ${f.result}; ${f.reason}`,
    );
  }
  if (status.rejectedBuild) {
    lines.push(
      `not used   ${status.rejectedBuild.binary} (failed its probation) until \`handoff upgrade\` names it`,
    );
  }
  if (status.recent.length > 0) lines.push('', ...historyTable(status.recent));
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function showHistory(triggerPath: string, json: boolean): Promise<number> {
  const reply = await sendTrigger(triggerPath, 'history');
  const history = reply.history as HistoryEntry[] | undefined;
  if (!history) {
    process.stderr.write(`handoff: ${reply.result}\n`);
    return 3;
  }
  if (json) process.stdout.write(`${JSON.stringify(history, null, 2)}\n`);
  else
    process.stdout.write(`${history.length === 0 ? 'no handoffs yet' : historyTable(history).join('\n')}\n`);
  return 0;
}

/** One row per entry: when, what, the outcome, pids, the total time, and the reason if any. */
export function historyTable(entries: readonly HistoryEntry[]): string[] {
  const rows = entries.map((entry) => {
    const at = new Date(entry.atUnixMs).toISOString().replace('T', ' ').slice(0, 19);
    if (entry.kind === 'fall-back') {
      return [
        at,
        `fall-back (${entry.how})`,
        entry.result,
        `${entry.from.pid} → ${entry.to.pid ?? '-'}`,
        '',
        `${entry.to.binary}; ${entry.reason}`,
      ];
    }
    const r = entry.report;
    const total = r.phases.totalMs === undefined ? '' : `${Math.round(r.phases.totalMs)} ms`;
    return [
      at,
      entry.trigger,
      r.status,
      `${r.incumbent.pid ?? '-'} → ${r.successor.pid ?? '-'}`,
      total,
      `${entry.binary}${r.reason ? `; ${r.reason}` : ''}`,
    ];
  });
  const header = ['when (UTC)', 'trigger', 'outcome', 'pids', 'total', 'build; reason'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const format = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? oneLine(cell) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [format(header), ...rows.map(format)];
}

function oneLine(text: string): string {
  const line = text.replaceAll('\n', ' ');
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}

function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
