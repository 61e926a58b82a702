// The accept gap of each deploy, from the lines bench/accept-log.ts appends: the time from the old
// instance's last accept to the new instance's first one. Negative when both accepted at once (overlap).

import { readFileSync } from 'node:fs';

/** The env var naming the accept log; set only on the benchmark's daemons. */
export const ACCEPT_LOG_ENV = 'BENCH_ACCEPT_LOG';

export interface InstanceAccepts {
  readonly pid: number;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly count: number;
}

/** Every pid that accepted, in the order of its first accept. */
export function readAccepts(path: string): InstanceAccepts[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const byPid = new Map<number, { pid: number; firstMs: number; lastMs: number; count: number }>();
  for (const line of text.split('\n')) {
    const [pidText, word, msText] = line.split(' ');
    if (word !== 'accept') continue;
    const pid = Number(pidText);
    const ms = Number(msText);
    const seen = byPid.get(pid);
    if (!seen) byPid.set(pid, { pid, firstMs: ms, lastMs: ms, count: 1 });
    else {
      seen.firstMs = Math.min(seen.firstMs, ms);
      seen.lastMs = Math.max(seen.lastMs, ms);
      seen.count++;
    }
  }
  return [...byPid.values()].sort((a, b) => a.firstMs - b.firstMs);
}

/** Gaps between consecutive instances: next.firstMs − previous.lastMs, one per replacement. */
export function acceptGapsMs(instances: readonly InstanceAccepts[]): number[] {
  const gaps: number[] = [];
  for (let i = 1; i < instances.length; i++) {
    gaps.push(round(instances[i]!.firstMs - instances[i - 1]!.lastMs));
  }
  return gaps;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
