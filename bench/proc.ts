// What the benchmark reads from /proc: the kernel's listen-queue counters, a process's RSS, fd count and CPU
// time, and the sweep that SIGKILLs every process a run left behind (found by the run's unique temp dir).

import { readdirSync, readFileSync } from 'node:fs';

export interface ListenCounters {
  /** TcpExt ListenOverflows: SYNs or handshakes dropped because an accept queue was full. */
  readonly listenOverflows: number;
  /** TcpExt ListenDrops: every connection dropped at listen, overflows included. */
  readonly listenDrops: number;
}

/** The machine-wide TcpExt listen counters from /proc/net/netstat. */
export function readListenCounters(): ListenCounters {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = lines[i]!.split(/\s+/);
    if (names[0] !== 'TcpExt:') continue;
    const values = lines[i + 1]!.split(/\s+/);
    const get = (name: string) => Number(values[names.indexOf(name)] ?? Number.NaN);
    return { listenOverflows: get('ListenOverflows'), listenDrops: get('ListenDrops') };
  }
  throw new Error('no TcpExt counters in /proc/net/netstat');
}

export interface ProcessSample {
  readonly rssKb: number;
  readonly fds: number;
  /** user + system CPU time so far. */
  readonly cpuMs: number;
}

/** RSS, open fds and CPU time of `pid`, or undefined when it is gone. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th, in ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssKb, fds, cpuMs: ticks * (1000 / CLOCK_TICKS_PER_SECOND) };
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * SIGKILLs every process (but this one) whose command line or environment mentions `marker` — the run's
 * own temp dir, which every daemon, supervisor and pm2 process it started carries. Returns their pids.
 */
export function killProcessesMentioning(marker: string): number[] {
  const killed: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let text: string;
    try {
      text = `${readFileSync(`/proc/${pid}/cmdline`, 'utf8')}\0${readFileSync(`/proc/${pid}/environ`, 'utf8')}`;
    } catch {
      continue; // gone, or not ours to read
    }
    if (!text.includes(marker)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
