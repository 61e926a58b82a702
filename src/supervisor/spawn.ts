// Starting daemon instances with the fd and env layout of docs/protocol.md §2.1, and the guard that kills one that must
// not outlive a failed handoff. Listeners go in stdio slots 3…3+n-1; a successor's control channel (a Unix
// stream socketpair made by libuv for a 'pipe' slot) at 3+n. Every other fd of ours is close-on-exec. The
// instance's stderr is a pipe the supervisor passes through to its own stderr, keeping the tail.

import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { CrashEnv } from '../crash.js';
import { HandoffError, ioError } from '../errors.js';
import { LISTEN_FDS_START, RoleEnv, SUCCESSOR_ROLE } from '../role-env.js';
import { StderrTail } from './stderr-tail.js';

/** A listening socket the supervisor holds for its whole life and passes to every instance. */
export interface SupervisedListener {
  readonly name: string;
  readonly fd: number;
}

export interface InstanceSpec {
  /** The daemon executable. It must exec the daemon itself: its pid is checked against the Hello. */
  readonly command: string;
  readonly args?: readonly string[];
  /** Extra environment, applied over the supervisor's own and under the role variables. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface SpawnedInstance {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The supervisor's end of the control channel (successors only). */
  readonly control: Socket | undefined;
  /** The instance's stderr: passed through to ours, its tail kept for the instance's last words. */
  readonly stderr: StderrTail;
}

/**
 * The environment of a spawned instance (docs/protocol.md §2.1, §8): our own environment without our crash variables,
 * the child's crash point taken from HANDOFF_CRASH_AT_FOR_O / _FOR_N, the spec's extra env, and last the role
 * variables, which nothing can override.
 */
export function instanceEnv(
  role: 'coldStart' | 'successor',
  listeners: readonly SupervisedListener[],
  extra: Readonly<Record<string, string>> = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of [
    CrashEnv.AT,
    CrashEnv.ROLE,
    RoleEnv.LISTEN_FDS,
    RoleEnv.LISTEN_FDNAMES,
    RoleEnv.HANDOFF_ROLE,
    RoleEnv.HANDOFF_SOCK_FD,
  ]) {
    delete env[name];
  }
  const crashAt = base[role === 'successor' ? CrashEnv.AT_FOR_N : CrashEnv.AT_FOR_O];
  if (crashAt) {
    env[CrashEnv.AT] = crashAt;
    env[CrashEnv.ROLE] = role === 'successor' ? 'successor' : 'incumbent';
  }
  Object.assign(env, extra);
  env[RoleEnv.LISTEN_FDS] = String(listeners.length);
  env[RoleEnv.LISTEN_FDNAMES] = listeners.map((l) => l.name).join(':');
  if (role === 'successor') {
    env[RoleEnv.HANDOFF_ROLE] = SUCCESSOR_ROLE;
    env[RoleEnv.HANDOFF_SOCK_FD] = String(LISTEN_FDS_START + listeners.length);
  }
  return env;
}

/**
 * Spawns an instance in its own process group (so the whole group can be killed) with the listeners at
 * 3…3+n-1 and, for a successor, the control channel at 3+n. Throws `Io` when the executable cannot be
 * started, naming it.
 */
export async function spawnInstance(
  role: 'coldStart' | 'successor',
  spec: InstanceSpec,
  listeners: readonly SupervisedListener[],
): Promise<SpawnedInstance> {
  const slots = [...listeners.map((l) => l.fd), ...(role === 'successor' ? (['pipe'] as const) : [])];
  // Loaded on first use: every daemon imports this package, and only a supervisor ever spawns.
  const { spawn } = await import('node:child_process');
  const child = spawn(spec.command, [...(spec.args ?? [])], {
    stdio: ['inherit', 'inherit', 'pipe', ...slots],
    env: instanceEnv(role, listeners, spec.env),
    detached: true,
    ...(spec.cwd !== undefined && { cwd: spec.cwd }),
  });
  const pid = child.pid;
  // Read from the start, so the pipe never fills while nobody asks for the tail.
  const stderr = new StderrTail(child.stderr!);
  if (pid === undefined) {
    // spawn reports a missing or unexecutable binary asynchronously, as an 'error' event.
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw ioError(`cannot start ${role === 'successor' ? 'successor' : 'daemon'} ${spec.command}`, error, {
      path: spec.command,
    });
  }
  child.on('error', () => {
    // Later errors (a failed kill of an exited child) carry nothing the exit event does not.
  });
  const control =
    role === 'successor' ? (child.stdio[LISTEN_FDS_START + listeners.length] as Socket) : undefined;
  if (role === 'successor' && !control) {
    throw new HandoffError('Io', `no control channel was created for successor pid ${pid}`);
  }
  return { child, pid, control, stderr };
}

/** Resolves when `child` has exited and been reaped (immediately if it already has). */
export function reaped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGKILLs the child's whole process group and waits until the child is reaped. */
export async function killGroupAndReap(child: ChildProcess): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone; the exit event is on its way or has fired.
    }
  }
  await reaped(child);
}

/**
 * Kills and reaps a successor on every early exit of a handoff, unless disarmed. Disarm it as soon as the
 * successor has said Ready: from then on it must survive whatever happens to the incumbent (docs/protocol.md §5.1 step 9).
 */
export class ChildGuard {
  readonly child: ChildProcess;
  #armed = true;
  /** True once this guard sent SIGKILL: a SIGKILL exit is then ours, not the child's own end. */
  #killed = false;

  constructor(child: ChildProcess) {
    this.child = child;
  }

  disarm(): void {
    this.#armed = false;
  }

  get armed(): boolean {
    return this.#armed;
  }

  /**
   * How the child ended by itself ("exited with code 1", "killed by SIGSEGV"), once it has been reaped;
   * undefined while it runs or when the guard's own SIGKILL ended it.
   */
  get exitDescription(): string | undefined {
    const { exitCode, signalCode } = this.child;
    if (exitCode !== null) return `exited with code ${exitCode}`;
    if (signalCode !== null && !(signalCode === 'SIGKILL' && this.#killed)) return `killed by ${signalCode}`;
    return undefined;
  }

  /**
   * Kills and reaps the child if still armed, after letting it exit by itself for up to `graceMs` (a child
   * that closed its control channel is usually on its way out, and its own exit status says more than our
   * SIGKILL). Idempotent.
   */
  async killAndReap(graceMs = 0): Promise<void> {
    if (!this.#armed) return;
    this.#armed = false;
    if (graceMs > 0) {
      await Promise.race([
        reaped(this.child),
        new Promise((resolve) => setTimeout(resolve, graceMs).unref()),
      ]);
    }
    this.#killed = true;
    await killGroupAndReap(this.child);
  }
}
