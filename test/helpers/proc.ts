// What /proc says about processes and fds, for leak checks (STYLE rule 22): this process's open fds, the
// processes alive now, and the ones that carry a given environment entry (how orphaned fixtures are found).

import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { processAlive } from './spawn-child.js';
import { waitFor } from './wait-for.js';

/** This process's open fds and what they point at (the directory listing's own fd is left out). */
export function openFds(): string {
  const fds: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds.push(`${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the fd readdir used, closed by now
    }
  }
  return fds.join(' ');
}

/**
 * /proc/locks as one consistent snapshot, or undefined when none could be had. Each read(2) of it is one
 * pass over the kernel's lock list with the list frozen, but a reader that needs a second read(2) (as
 * readFileSync always does, to see EOF) gets a second pass: when other processes take or drop locks in
 * between, records shift and one can come back twice, which looks like two holders. So a snapshot counts
 * only when the first read got everything: a second read returns nothing.
 */
export function procLocksSnapshot(bufferBytes = 256 * 1024): string | undefined {
  const fd = openSync('/proc/locks', 'r');
  try {
    const buffer = Buffer.alloc(bufferBytes);
    const bytes = readSync(fd, buffer, 0, buffer.length, null);
    if (bytes === buffer.length || readSync(fd, Buffer.alloc(1), 0, 1, null) !== 0) return undefined;
    return buffer.toString('utf8', 0, bytes);
  } finally {
    closeSync(fd);
  }
}

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  /** One letter from /proc/<pid>/stat: R, S, D, Z (zombie), … */
  readonly state: string;
  /** argv joined by spaces. */
  readonly cmdline: string;
}

/** One process from /proc, or undefined when it is gone (or vanished while being read). */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), state: fields[0] ?? '?', cmdline };
  } catch {
    return undefined;
  }
}

/** Every process /proc lists right now. */
export function listProcesses(): ProcessInfo[] {
  const all: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = processInfo(Number(entry));
    if (info) all.push(info);
  }
  return all;
}

/** The environment `pid` was started with (/proc/<pid>/environ), or an empty object when unreadable. */
export function processEnv(pid: number): Record<string, string> {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return {};
  }
  const env: Record<string, string> = {};
  for (const entry of environ.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/**
 * Live processes (see `processAlive`) whose initial environment holds exactly `entry` (`NAME=value`). A fixture that
 * outlived whoever spawned it (a successor of a crashed supervisor) is found this way, through a path only
 * its own test uses. Only our own uid's processes are readable, which is all a test starts.
 */
export function processesWithEnv(entry: string): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const info of listProcesses()) {
    if (info.pid === process.pid || !processAlive(info.pid)) continue;
    const eq = entry.indexOf('=');
    if (processEnv(info.pid)[entry.slice(0, eq)] === entry.slice(eq + 1)) found.push(info);
  }
  return found;
}

/** This process's own process group, which a test must never kill. */
export function ownProcessGroup(): number {
  return processInfo(process.pid)?.pgid ?? process.pid;
}

/**
 * SIGKILLs the process group of every live process whose environment holds `entry` (never our own group)
 * and waits until none is left: the daemons a test's supervisor started in groups of their own, which
 * outlive a supervisor the test killed (the crate's Fixture sweeps its pidfile for the same reason).
 */
export async function killProcessesWithEnv(entry: string): Promise<void> {
  const ours = ownProcessGroup();
  for (const info of processesWithEnv(entry)) {
    try {
      process.kill(info.pgid > 1 && info.pgid !== ours ? -info.pgid : info.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  await waitFor(() => processesWithEnv(entry).length === 0, {
    what: `every process with ${entry} to die`,
    diagnostics: () => JSON.stringify(processesWithEnv(entry)),
  });
}

/** Registers `killProcessesWithEnv(entry)` to run after the test (after hooks run in registration order). */
export function sweepAfter(t: TestContext, entry: string): void {
  t.after(() => killProcessesWithEnv(entry));
}
