// A daemon process as the supervisor keeps it: one it started (a child: reaped, its stderr passed through),
// or one it adopted from a supervisor that died (watched through a pidfd, so a recycled pid can never be
// mistaken for it). Either way: its pid, its exit, signals to its process group, and a kill that waits.

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { closeFd, pidfdExited, pidfdSendSignal } from '../os.js';
import { killGroupAndReap, reaped } from '../supervisor/spawn.js';
import type { StderrTail } from '../supervisor/stderr-tail.js';

/** How an adopted daemon's exit is noticed: its pidfd is polled this often (one syscall each). */
const ADOPTED_EXIT_POLL_MS = 100;

export interface DaemonExit {
  /** "exited with code 1", "killed by SIGKILL", or "exited" for an adopted process (no status to read). */
  readonly description: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface DaemonProcess {
  readonly pid: number;
  /** Set for a daemon this supervisor adopted instead of starting: when (Unix ms). */
  readonly adoptedAtUnixMs?: number;
  /** Its stderr's tail (only for a child of ours: an adopted daemon's stderr went to the dead supervisor). */
  readonly stderr?: StderrTail;
  /** Settles once the process has exited (and, for a child, been reaped). */
  readonly exited: Promise<DaemonExit>;
  /** Sends `signal` to its whole process group (each daemon runs in a group of its own). */
  signalGroup(signal: NodeJS.Signals): void;
  /** SIGKILLs its process group and waits until it has exited. */
  killGroupAndWait(): Promise<void>;
}

/** A daemon this supervisor spawned. */
export function childDaemon(child: ChildProcess, stderr: StderrTail): DaemonProcess {
  const pid = child.pid!;
  const exited = reaped(child).then(() => {
    const { exitCode: code, signalCode: signal } = child;
    return { code, signal, description: signal ? `killed by ${signal}` : `exited with code ${code}` };
  });
  return {
    pid,
    stderr,
    exited,
    signalGroup: (signal) => signalGroup(pid, signal),
    killGroupAndWait: () => killGroupAndReap(child),
  };
}

/**
 * A daemon adopted through `pidfd` (which this takes over and closes once the process has exited). Its
 * process group is read now, while the pidfd guarantees the pid still names it.
 */
export function adoptedDaemon(pid: number, pidfd: number): DaemonProcess {
  const pgid = processGroup(pid);
  let settle!: (exit: DaemonExit) => void;
  const exited = new Promise<DaemonExit>((resolve) => {
    settle = resolve;
  });
  const timer = setInterval(() => {
    if (!pidfdExited(pidfd)) return;
    clearInterval(timer);
    closeFd(pidfd);
    settle({ code: null, signal: null, description: 'exited' });
  }, ADOPTED_EXIT_POLL_MS);
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const signal = (sig: NodeJS.Signals) => {
    if (!alive) return;
    // The group, when it is the daemon's own (it is, for every daemon a supervisor started); else only the
    // process, through its pidfd: never a group that might be somebody else's.
    if (pgid === pid) signalGroup(pid, sig);
    else pidfdSendSignal(pidfd, sig);
  };
  return {
    pid,
    adoptedAtUnixMs: Date.now(),
    exited,
    signalGroup: signal,
    killGroupAndWait: async () => {
      signal('SIGKILL');
      await exited;
    },
  };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** The process group of `pid` (/proc/<pid>/stat, the field after the parent pid). */
function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}
