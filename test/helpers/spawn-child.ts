// Child processes for process tests (STYLE rules 21, 22): each child is detached (its own process group),
// its cleanup is registered the moment it exists, it is killed by group, and its output is kept for failures.

import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnChildOptions {
  /**
   * fds placed at 3, 4, … in the child (inherited without close-on-exec); 'pipe' makes a socketpair there and
   * 'ignore' leaves the slot empty.
   */
  readonly extraFds?: ReadonlyArray<number | 'pipe' | 'ignore'>;
  readonly env?: NodeJS.ProcessEnv;
  /** Default: the repository root (so `--import tsx` resolves). */
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
}

export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
  /** The last `lines` lines of output, labelled with the pid, for failure messages. */
  tail(lines?: number): string;
  /** Resolves with the first match of `pattern` in the output; rejects at the deadline with the log tail. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Settles when the child has exited and been reaped. */
  readonly exited: Promise<ExitStatus>;
  /** SIGKILLs the child's whole process group and waits until no live member remains. Idempotent. */
  kill(): Promise<ExitStatus>;
}

/** Spawns `command` detached with stdout/stderr captured and registers its group kill with `t.after`. */
export function spawnChild(
  t: TestContext,
  command: string,
  args: readonly string[],
  options: SpawnChildOptions = {},
): Child {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...(options.extraFds ?? [])];
  const child = spawn(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio,
    detached: true,
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawn ${command} failed`);
  let output = '';
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const handle: Child = {
    pid,
    process: child,
    output: () => output,
    tail: (lines = 20) =>
      `--- output of pid ${pid} (${command} ${args.join(' ')}) ---\n${output.split('\n').slice(-lines).join('\n')}`,
    waitForOutput: (pattern, timeoutMs = 5000) =>
      waitFor(() => output.match(pattern), {
        what: `${pattern} in the output of pid ${pid}`,
        timeoutMs,
        diagnostics: () => handle.tail(),
      }),
    exited,
    kill: async () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
      const status = await exited;
      await waitFor(() => !processGroupAlive(pid), {
        what: `process group ${pid} to die`,
        diagnostics: () => handle.tail(),
      });
      return status;
    },
  };
  t.after(() => handle.kill());
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  return handle;
}

/** Runs a TypeScript (or .mjs) fixture from test/process/fixtures with `node --import tsx`. */
export function spawnFixture(
  t: TestContext,
  fixture: string,
  args: readonly string[] = [],
  options: SpawnChildOptions = {},
): Child {
  const path = fileURLToPath(new URL(`../process/fixtures/${fixture}`, import.meta.url));
  return spawnChild(t, process.execPath, ['--import', 'tsx', path, ...args], options);
}

/**
 * True while any live process (see `processAlive`) belongs to process group `pgid`. Zombies are ignored: they
 * hold no fds or locks, and on this machine orphans (esbuild's service process under tsx) are reaped by pid 1
 * only lazily.
 */
export function processGroupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // Fields after the parenthesised command name: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && processAlive(Number(entry))) return true;
  }
  return false;
}

/**
 * Whether `pid` is still live: some thread of it has not exited. The main thread's state alone is not
 * enough: it reads 'Z' as soon as that one thread has exited, while the process's other threads (a Node
 * process has several) are still tearing down and still hold its fds, and so its flock, for a few ms more.
 */
export function processAlive(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tasks.some((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
      return state !== 'Z' && state !== 'X';
    } catch {
      return false; // that thread exited while we looked
    }
  });
}
