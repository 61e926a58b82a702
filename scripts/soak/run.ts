// The chaos soak: the kv daemon under `handoff run` with steady read/write load, N handoffs with seeded
// faults, and the invariants checked throughout — never two flock holders, no acknowledged write lost, one
// serving daemon after every fault, nothing of the run left behind, the supervisor's fds and RSS flat.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DemoLoad } from '../demo-load.js';
import { type FaultContext, runHandoff } from './faults.js';
import { converged, FlockSampler } from './invariants.js';
import { FAULT_KINDS, type FaultKind, planSoak } from './schedule.js';
import { freePort, type Runner, SoakService } from './service.js';

export interface SoakOptions {
  readonly runner: Runner;
  readonly seed: number;
  readonly handoffs: number;
  /** Probability that a handoff carries a fault. */
  readonly faultRate: number;
  /** The first handoffs carry each fault kind once (the short variant). */
  readonly everyKindOnce?: boolean;
  /** How long the service may take to converge after a fault (the handoff deadline). */
  readonly convergeTimeoutMs?: number;
  /** Progress lines, e.g. to stderr. */
  readonly log?: (line: string) => void;
}

export interface FaultStats {
  injected: number;
  /** Requests that failed while this fault was being injected and recovered from. */
  failedRequests: number;
  /** Those failures by reason (`ECONNRESET`, `HTTP 500`, …). */
  reasons: Record<string, number>;
}

export interface SoakResult {
  readonly seed: number;
  readonly handoffs: number;
  readonly outcomes: { committed: number; rolledBack: number; other: number };
  readonly faults: Partial<Record<FaultKind, FaultStats>>;
  /** Failed requests outside every fault window (must be 0), by reason, with the handoff they came after. */
  readonly failedOutsideFaults: number;
  readonly outsideFaults: Array<{ reason: string; afterHandoff: number }>;
  /**
   * Every failed request by the handoff whose period it failed in (1-based, with its fault and step) and
   * the handoff whose period it was sent in: a request sent in one period and failed in the next is the
   * earlier fault's doing more often than the later one's.
   */
  readonly failuresByHandoff: Array<{
    handoff: number;
    label: string;
    sentDuring: number;
    reason: string;
    count: number;
  }>;
  readonly requests: { sent: number; failed: number };
  readonly writes: { acked: number; lost: number };
  readonly wrongReads: number;
  readonly maxFlockHolders: number;
  readonly flockSamples: number;
  /** Handoffs after which the service did not converge to one serving daemon in time. */
  readonly notConverged: number[];
  readonly leftBehind: number[];
  readonly supervisor: { fdsStart: number; fdsEnd: number; rssStartKb: number; rssEndKb: number };
  readonly diskFaults: boolean;
  readonly failures: string[];
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'handoff-soak-'));
  const mounts = mountTmpfs(dir);
  const dataDir = join(mounts.data ?? dir, 'data');
  const journal = join(mounts.journal ?? dir, 'journal.bin');
  mkdirSync(dataDir, { recursive: true });
  const service = new SoakService({ dir, runner: options.runner, dataDir, journal, port: await freePort() });
  const kinds = FAULT_KINDS.filter((kind) => mounts.data || !kind.startsWith('full-'));
  const plan = planSoak({ ...options, kinds });
  const ctx: FaultContext = {
    service,
    dataMount: mounts.data,
    journalMount: mounts.journal,
    hangingBuild: service.buildWith('kv-hangs', '--hang-at-start'),
  };
  const convergeTimeoutMs = options.convergeTimeoutMs ?? 60_000;
  const faults: Partial<Record<FaultKind, FaultStats>> = {};
  /** Each handoff's period (load time): from its start to the next one's, with the fault it carried. */
  const periods: Array<{ kind: FaultKind | undefined; label: string; from: number }> = [];
  const outcomes = { committed: 0, rolledBack: 0, other: 0 };
  const notConverged: number[] = [];
  let load: DemoLoad | undefined;
  let sampler: FlockSampler | undefined;
  const cleanup = async (failed: boolean) => {
    sampler?.stop();
    await load?.stop();
    await service.stop().catch(() => {});
    killRun(service.marker);
    for (const mount of [mounts.data, mounts.journal]) if (mount) execFileSync('umount', ['-l', mount]);
    // A failed run keeps its supervisor's log (every daemon's stderr is in it), to replay with the seed.
    if (failed) {
      const kept = join(tmpdir(), `handoff-soak-${options.seed}.log`);
      copyFileSync(service.log, kept);
      log(`  the supervisor's log is kept in ${kept}`);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let failed = true;
  try {
    log(`soak: seed ${options.seed}, ${options.handoffs} handoffs, faults: ${kinds.join(', ')} (in ${dir})`);
    await service.start();
    sampler = new FlockSampler(join(dataDir, '.handoff.lock'));
    load = new DemoLoad(service.options.port, { requestTimeoutMs: 15_000, pauseAfterFailureMs: 50 });
    load.start({ keepAliveWriters: 3, keepAliveReaders: 2, freshWriters: 1, freshReaders: 1 });
    let supStart = await sampleSupervisor(service);
    for (const planned of plan) {
      const from = load.elapsedMs();
      const { reply, recovery } = await runHandoff(planned, ctx);
      if (planned.fault?.endsWith('-supervisor')) supStart = undefined; // a new supervisor process
      const pid = await converged(service, convergeTimeoutMs, log);
      if (pid === undefined) notConverged.push(planned.index);
      if (/committed=true/.test(reply)) outcomes.committed++;
      else if (/committed=false/.test(reply)) outcomes.rolledBack++;
      else outcomes.other++;
      if (planned.fault) {
        const stats = faults[planned.fault] ?? { injected: 0, failedRequests: 0, reasons: {} };
        faults[planned.fault] = stats;
        stats.injected++;
      }
      const label = planned.fault ? `${planned.fault}${planned.step ? `@${planned.step}` : ''}` : 'clean';
      periods.push({ kind: planned.fault, label, from });
      supStart ??= await sampleSupervisor(service);
      const took = `${((load.elapsedMs() - from) / 1000).toFixed(1)} s`.padStart(7);
      log(
        `  ${String(planned.index + 1).padStart(4)} ${label.padEnd(28)} ${took}  ${reply.slice(0, 100)}${recovery ? ` [${recovery}]` : ''}`,
      );
    }
    const supEnd = await sampleSupervisor(service);
    sampler.stop();
    const verifyFrom = performance.now();
    await load.stop();
    const lost = await load.verify();
    log(
      `  verified ${load.acked.size} acknowledged writes in ${((performance.now() - verifyFrom) / 1000).toFixed(1)} s`,
    );
    const exit = await service.stop();
    const leftBehind = service.daemons();
    // A failed request belongs to the handoff period in which it failed (when its answer, or its error,
    // came): a fault's period runs until the next handoff begins, recovery included. A failure in the period
    // of a handoff without a fault is a failure of the tool.
    const outsideFaults: SoakResult['outsideFaults'] = [];
    const periodAt = (ms: number) => {
      let index = periods.length - 1;
      while (index > 0 && periods[index]!.from > ms) index--;
      return index;
    };
    const byHandoff = new Map<string, SoakResult['failuresByHandoff'][number]>();
    for (const sample of load.samples) {
      if (sample.ok) continue;
      const reason = sample.reason ?? 'unknown';
      const index = periodAt(sample.at + sample.latencyMs);
      const sentDuring = periodAt(sample.at) + 1;
      const key = `${index} ${sentDuring} ${reason}`;
      const entry = byHandoff.get(key) ?? {
        handoff: index + 1,
        label: periods[index]?.label ?? 'clean',
        sentDuring,
        reason,
        count: 0,
      };
      entry.count++;
      byHandoff.set(key, entry);
      const kind = periods[index]?.kind;
      if (kind) {
        const stats = faults[kind]!;
        stats.failedRequests++;
        stats.reasons[reason] = (stats.reasons[reason] ?? 0) + 1;
      } else {
        outsideFaults.push({ reason, afterHandoff: index + 1 });
      }
    }
    const failedOutsideFaults = outsideFaults.length;
    const stats = [...load.stats.values()];
    const result: SoakResult = {
      seed: options.seed,
      handoffs: plan.length,
      outcomes,
      faults,
      failedOutsideFaults,
      outsideFaults,
      failuresByHandoff: [...byHandoff.values()],
      requests: { sent: sum(stats.map((s) => s.sent)), failed: sum(stats.map((s) => s.failed)) },
      writes: { acked: load.acked.size, lost: lost.length },
      wrongReads: load.wrongReads,
      maxFlockHolders: sampler.maxHolders,
      flockSamples: sampler.samples,
      notConverged,
      leftBehind,
      supervisor: {
        fdsStart: supStart?.fds ?? 0,
        fdsEnd: supEnd?.fds ?? 0,
        rssStartKb: supStart?.rssKb ?? 0,
        rssEndKb: supEnd?.rssKb ?? 0,
      },
      diskFaults: mounts.data !== undefined,
      failures: [],
    };
    const failures = result.failures as string[];
    if (result.maxFlockHolders > 1)
      failures.push(`two flock holders at once: ${JSON.stringify(sampler.worst)}`);
    if (lost.length > 0) failures.push(`${lost.length} acknowledged writes lost`);
    if (load.wrongReads > 0)
      failures.push(`${load.wrongReads} reads returned a value other than the acknowledged one`);
    if (notConverged.length > 0)
      failures.push(`no single serving daemon after handoffs ${notConverged.join(', ')}`);
    if (leftBehind.length > 0) failures.push(`processes left behind: ${leftBehind.join(', ')}`);
    if (exit !== 0) failures.push(`the supervisor exited ${exit} on SIGTERM`);
    if (failedOutsideFaults > 0) {
      const detail = outsideFaults.map((f) => `${f.reason} after handoff ${f.afterHandoff}`).join(', ');
      failures.push(`${failedOutsideFaults} requests failed outside any fault: ${detail}`);
    }
    if (supStart && supEnd && supEnd.fds !== supStart.fds) {
      failures.push(`the supervisor's fds went from ${supStart.fds} to ${supEnd.fds}`);
    }
    failed = failures.length > 0;
    return result;
  } finally {
    await cleanup(failed);
  }
}

/** tmpfs mounts for the data dir and the journal, when this process may mount (root); else none. */
function mountTmpfs(dir: string): { data?: string; journal?: string } {
  const data = join(dir, 'data-fs');
  const journal = join(dir, 'journal-fs');
  try {
    mkdirSync(data);
    mkdirSync(journal);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512m,mode=0700', 'tmpfs', data], { stdio: 'pipe' });
  } catch {
    return {};
  }
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', journal], { stdio: 'pipe' });
  return { data, journal };
}

/**
 * The supervisor's open fds and RSS, the fds as the fewest of a few samples 50 ms apart: a trigger connection
 * the soak just closed is released by the supervisor's event loop a moment later.
 */
async function sampleSupervisor(service: SoakService): Promise<{ fds: number; rssKb: number } | undefined> {
  const pid = service.supervisor?.pid;
  if (pid === undefined) return undefined;
  let best: { fds: number; rssKb: number } | undefined;
  for (let i = 0; i < 5; i++) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const sample = {
        fds: readdirSync(`/proc/${pid}/fd`).length,
        rssKb: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0),
      };
      if (!best || sample.fds < best.fds) best = sample;
    } catch {
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return best;
}

function killRun(marker: string): void {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(marker)) {
        process.kill(Number(name), 'SIGKILL');
      }
    } catch {
      // gone, or not ours
    }
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
