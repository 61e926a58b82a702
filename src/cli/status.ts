// `handoff status [--json]`: what the running supervisor reports about the serving daemon.

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
  listeners: Array<{ name: string; addr: string; source?: string }>;
  dataDir?: string;
  lastReport?: { handoffId: string; status: string; reason?: string; phases: { totalMs?: number } };
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
  const last = status.lastReport;
  if (last) {
    lines.push(
      `last       ${last.status}${last.reason ? ` (${last.reason})` : ''} ${last.handoffId}, ${last.phases.totalMs ?? '?'} ms`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
