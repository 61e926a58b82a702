// The accept gap of each deploy, from the lines bench/accept-log.ts appends: the time from the old
// instance's last accept to the new instance's first one. Negative when both accepted at once (overlap).

import { readFileSync } from 'node:fs';

/** The env var naming the accept log; set only on the benchmark's daemons. */
export const ACCEPT_LOG_ENV = 'BENCH_ACCEPT_LOG';

/**
 * A gap is measured only if the old instance accepted something this close to the trigger or after it.
 * Otherwise no client connected around the deploy (all of them stuck, say, in a request that hangs), and
 * "its last accept" would be an arbitrary earlier moment, not the end of its accepting.
 */
const ARRIVAL_SLACK_MS = 50;

export interface Accept {
  readonly pid: number;
  /** Unix epoch ms. */
  readonly ms: number;
}

/** Every accept in the log, in time order. */
export function readAccepts(path: string): Accept[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const accepts: Accept[] = [];
  for (const line of text.split('\n')) {
    const [pid, word, ms] = line.split(' ');
    if (word === 'accept') accepts.push({ pid: Number(pid), ms: Number(ms) });
  }
  return accepts.sort((a, b) => a.ms - b.ms);
}

/**
 * One entry per deploy (given by its trigger time, Unix epoch ms, ascending): the new instance's first
 * accept minus the old instance's last, where "old" accepted last before the trigger and "new" is the first
 * other pid to accept after it and before the next trigger. Undefined when it cannot be measured.
 */
export function deployGapsMs(
  accepts: readonly Accept[],
  triggersMs: readonly number[],
): Array<number | undefined> {
  return triggersMs.map((from, i) => {
    const until = triggersMs[i + 1] ?? Number.POSITIVE_INFINITY;
    const old = findLast(accepts, (a) => a.ms < from)?.pid;
    if (old === undefined) return undefined;
    const first = accepts.find((a) => a.ms >= from && a.ms < until && a.pid !== old);
    if (!first) return undefined;
    const oldLast = findLast(accepts, (a) => a.pid === old && a.ms < until)!.ms;
    if (oldLast < from - ARRIVAL_SLACK_MS) return undefined;
    return Math.round((first.ms - oldLast) * 10) / 10;
  });
}

/** Array.prototype.findLast, which the ES2022 lib this project compiles against does not declare. */
function findLast<T>(items: readonly T[], predicate: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i]!)) return items[i];
  return undefined;
}
