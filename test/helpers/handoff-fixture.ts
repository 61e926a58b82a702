// A handoff test bed: a temp dir with a data dir, a control socket path and a marker dir; a supervisor-held
// TCP listener; the fixture daemon started as incumbent; and probes that look without disturbing anything
// (who holds the flock, per /proc/locks; who answers on the listener; what the markers say).

import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/log.js';
import { closeFd, listenTcp } from '../../src/os.js';
import type { HandoffSpec, SupervisorOptions } from '../../src/supervisor/options.js';
import { killGroupAndReap } from '../../src/supervisor/spawn.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { killProcessesWithEnv, procLocksSnapshot } from './proc.js';
import { type Child, REPO_ROOT, spawnChild } from './spawn-child.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

export const DAEMON = fileURLToPath(new URL('../process/fixtures/daemon.ts', import.meta.url));

/** Supervisor timing for tests: the SPEC's values, except where a test shortens one explicitly. */
export const FAST_SUPERVISOR: Partial<SupervisorOptions> = { heartbeatIntervalMs: 200, logger: silentLogger };

export class HandoffFixture {
  readonly dir: string;
  readonly dataDir: string;
  readonly controlPath: string;
  readonly markerDir: string;
  readonly journalPath: string;
  readonly listener: { readonly fd: number; readonly port: number };
  readonly #t: TestContext;

  constructor(t: TestContext) {
    this.#t = t;
    // Registered before the temp dir, so it runs first (after-hooks run in order): a successor still
    // starting up, or one a crashed supervisor left behind, would write markers into a dir being removed.
    t.after(() => this.killFixtureProcesses());
    this.dir = tempDir(t, 'handoff-proc-');
    this.dataDir = join(this.dir, 'data');
    this.controlPath = join(this.dir, 'control.sock');
    this.markerDir = join(this.dir, 'markers');
    this.journalPath = join(this.dir, 'journal', 'state.bin');
    mkdirSync(this.markerDir);
    this.listener = listenTcp('127.0.0.1', 0);
    t.after(() => closeFd(this.listener.fd));
  }

  /** The fixture daemon's environment: paths, shortened timing, and `extra` knobs. */
  daemonEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      HANDOFF_DATA_DIR: this.dataDir,
      HANDOFF_CONTROL_SOCKET: this.controlPath,
      HANDOFF_MARKER_DIR: this.markerDir,
      HANDOFF_TIMING: 'fast',
      ...extra,
    };
  }

  /** What the supervisor spawns as successor. */
  successorSpec(extraEnv: Record<string, string> = {}, spec: Partial<HandoffSpec> = {}): HandoffSpec {
    return {
      command: process.execPath,
      args: ['--import', 'tsx', DAEMON],
      env: this.daemonEnv(extraEnv),
      cwd: REPO_ROOT,
      deadlineMs: 15_000,
      drainGraceMs: 5_000,
      ...spec,
    };
  }

  /**
   * Starts the fixture daemon (or `script`, another fixture that marks `serving`) as a cold-start
   * incumbent on the listener and waits until it serves.
   */
  async startIncumbent(extraEnv: Record<string, string> = {}, script = DAEMON): Promise<Child> {
    const env = { ...process.env, ...this.daemonEnv(extraEnv), LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' };
    const child = spawnChild(this.#t, process.execPath, ['--import', 'tsx', script], {
      env,
      extraFds: [this.listener.fd],
    });
    await waitFor(() => this.markerPids('serving').includes(child.pid), {
      what: `incumbent pid ${child.pid} serving`,
      timeoutMs: 10_000,
      diagnostics: () => child.tail(),
    });
    return child;
  }

  supervisor(options: Partial<SupervisorOptions> = {}): Supervisor {
    return new Supervisor({
      controlPath: this.controlPath,
      listeners: [{ name: 'http', fd: this.listener.fd }],
      journalPath: this.journalPath,
      ...FAST_SUPERVISOR,
      ...options,
    });
  }

  /** Kills a committed successor's process group when the test ends (the supervisor handed it to us). */
  adopt(child: ChildProcess): void {
    this.#t.after(() => killGroupAndReap(child));
  }

  /**
   * SIGKILLs the process group of every live process of this fixture (found by the marker dir in its
   * environment, so orphans of a crashed supervisor too) and waits until none is left.
   */
  async killFixtureProcesses(): Promise<void> {
    await killProcessesWithEnv(`HANDOFF_MARKER_DIR=${this.markerDir}`);
  }

  /** The pids that wrote marker `name`, one per event, in order (a line is `<pid>` or `<pid> <Unix ms>`). */
  markerPids(name: string): number[] {
    return this.markerLines(name).map(([pid]) => pid);
  }

  /** Marker `name` as [pid, Unix ms] per event (ms is NaN for a fixture that writes no time). */
  markerLines(name: string): Array<[number, number]> {
    const path = join(this.markerDir, name);
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [pid, ms] = line.split(' ');
        return [Number(pid), Number(ms)];
      });
  }

  /** The inode of the data dir's lock file, or undefined before anyone created it. */
  lockInode(): number | undefined {
    const lockFile = join(this.dataDir, '.handoff.lock');
    return existsSync(lockFile) ? statSync(lockFile).ino : undefined;
  }

  /**
   * Pids holding a flock on the data dir's lock file, read from one consistent snapshot of /proc/locks (no
   * lock is touched). Throws when no consistent snapshot could be had (the lock list kept changing).
   */
  flockHolders(): number[] {
    const ino = this.lockInode();
    if (ino === undefined) return [];
    let locks: string | undefined;
    for (let attempt = 0; attempt < 100 && locks === undefined; attempt++) locks = procLocksSnapshot();
    if (locks === undefined) throw new Error('no consistent snapshot of /proc/locks in 100 reads');
    const holders: number[] = [];
    for (const line of locks.split('\n')) {
      // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== 'FLOCK' || fields[3] !== 'WRITE') continue;
      if (Number(fields[5]?.split(':')[2]) === ino) holders.push(Number(fields[4]));
    }
    return holders;
  }

  /** Connects to the supervisor-held listener and returns the pid of the instance that answered. */
  askHttp(timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.listener.port, '127.0.0.1');
      let data = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer on port ${this.listener.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        data += chunk;
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        const pid = Number(data.trim());
        if (Number.isInteger(pid) && pid > 0) resolve(pid);
        else reject(new Error(`unexpected answer ${JSON.stringify(data)} on port ${this.listener.port}`));
      });
    });
  }
}
