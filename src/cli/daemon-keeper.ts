// Keeps exactly one daemon instance running under `handoff run`: cold-starts it, restarts it with backoff
// when it dies outside a handoff (the listeners stay open meanwhile, so clients queue instead of being
// refused), adopts each committed successor, and stops it on shutdown.

import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';
import {
  type InstanceSpec,
  killGroupAndReap,
  reaped,
  type SupervisedListener,
  spawnInstance,
} from '../supervisor/spawn.js';

/** Restarts back off from restartBackoffMs, doubling up to this. */
const MAX_RESTART_BACKOFF_MS = 30_000;
/** An instance that lived this long resets the backoff. */
const HEALTHY_UPTIME_MS = 30_000;

export interface DaemonInfo {
  readonly pid: number;
  readonly startedAtUnixMs: number;
}

export class DaemonKeeper {
  readonly #spec: InstanceSpec;
  readonly #listeners: readonly SupervisedListener[];
  readonly #restartBackoffMs: number;
  readonly #log: Logger;
  #current: { child: ChildProcess; info: DaemonInfo } | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  /** The incumbent when the running handoff began (it exits by itself after a Commit). */
  #incumbentAtHandoff: ChildProcess | undefined;
  #handoffActive = false;
  #stopping = false;
  restarts = 0;

  constructor(
    spec: InstanceSpec,
    listeners: readonly SupervisedListener[],
    restartBackoffMs: number,
    logger: Logger,
  ) {
    this.#spec = spec;
    this.#listeners = listeners;
    this.#restartBackoffMs = restartBackoffMs;
    this.#log = logger;
  }

  get current(): DaemonInfo | undefined {
    return this.#current?.info;
  }

  /** Cold-starts the daemon. */
  async start(): Promise<void> {
    const { child, pid } = await spawnInstance('coldStart', this.#spec, this.#listeners);
    this.#track(child, pid);
    this.#log.info({ pid, binary: this.#spec.command }, 'daemon started');
  }

  /** While a handoff runs, the incumbent exiting is the handoff's business, not a crash to restart. */
  beginHandoff(): void {
    this.#handoffActive = true;
    this.#incumbentAtHandoff = this.#current?.child;
  }

  /**
   * After a handoff: a committed successor becomes the daemon, and the old instance is given `graceMs` to
   * exit by itself (it does after Commit) before it is killed. Otherwise, if the incumbent died meanwhile,
   * start a new one.
   */
  async endHandoff(committed: ChildProcess | undefined, graceMs: number): Promise<void> {
    this.#handoffActive = false;
    const old = this.#incumbentAtHandoff;
    this.#incumbentAtHandoff = undefined;
    if (committed?.pid !== undefined) {
      this.#track(committed, committed.pid);
      if (old) await this.#retire(old, graceMs);
      return;
    }
    if (!this.#current && !this.#stopping) this.#scheduleRestart();
  }

  /** SIGTERM to the daemon's process group, SIGKILL after `graceMs`. No restart afterwards. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const current = this.#current?.child;
    if (!current) return;
    this.#signal(current, 'SIGTERM');
    const exited = await Promise.race([reaped(current).then(() => true), delay(graceMs).then(() => false)]);
    if (!exited) {
      this.#log.warn({ pid: current.pid, graceMs }, 'daemon did not exit in time; killing it');
      await killGroupAndReap(current);
    }
  }

  #track(child: ChildProcess, pid: number): void {
    const info = { pid, startedAtUnixMs: Date.now() };
    this.#current = { child, info };
    child.once('exit', (code, signal) => {
      if (this.#current?.child !== child) return; // a retired incumbent
      this.#current = undefined;
      const uptimeMs = Date.now() - info.startedAtUnixMs;
      if (this.#stopping || this.#handoffActive) return; // the handoff's outcome decides what happens next
      this.#log.warn({ pid, code, signal, uptimeMs }, 'daemon exited outside a handoff');
      if (uptimeMs >= HEALTHY_UPTIME_MS) this.#failures = 0;
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    const delayMs = Math.min(MAX_RESTART_BACKOFF_MS, this.#restartBackoffMs * 2 ** this.#failures);
    this.#failures++;
    this.#log.info({ delayMs }, 'restarting the daemon');
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping || this.#current) return;
      this.restarts++;
      this.start().catch((error: unknown) => {
        this.#log.error({ err: error }, 'could not restart the daemon');
        this.#scheduleRestart();
      });
    }, delayMs);
  }

  async #retire(old: ChildProcess, graceMs: number): Promise<void> {
    const exited = await Promise.race([reaped(old).then(() => true), delay(graceMs).then(() => false)]);
    if (exited) {
      this.#log.info({ pid: old.pid, code: old.exitCode }, 'previous daemon exited');
    } else {
      this.#log.warn(
        { pid: old.pid, graceMs },
        'previous daemon still running after the handoff; killing it',
      );
      await killGroupAndReap(old);
    }
  }

  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
