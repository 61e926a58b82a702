// The service under soak: the kv daemon under `handoff run` on a fixed port (so a restarted supervisor binds
// the same address the load uses), its config, and what can be asked of it: status, the processes of the
// run, a trigger, a supervisor stop and start.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sendTrigger, type TriggerReply } from '../../src/cli/trigger.js';

/** How to run this repository's programs: built (`node dist/…js`) or from source (`node --import tsx …ts`). */
export interface Runner {
  /** Arguments to node before the script: `[]`, or `['--import', 'tsx']`. */
  readonly nodeArgs: readonly string[];
  readonly cli: string;
  readonly kv: string;
}

export interface ServiceOptions {
  readonly dir: string;
  readonly runner: Runner;
  readonly dataDir: string;
  readonly journal: string;
  readonly port: number;
}

export interface SupervisorStatus {
  daemon?: { pid: number; controlSocketAnswers?: boolean; binary: string };
  handoffs: { committed: number; rolledBack: number; failed: number; inProgress: boolean };
  restarts: number;
  restartsGaveUp?: unknown;
}

/** A free TCP port on 127.0.0.1, for a config that must bind the same port after every restart. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class SoakService {
  readonly options: ServiceOptions;
  readonly config: string;
  readonly trigger: string;
  readonly log: string;
  /** Every process the run starts carries this in its environment. */
  readonly marker: string;
  supervisor: ChildProcess | undefined;

  constructor(options: ServiceOptions) {
    this.options = options;
    this.config = join(options.dir, 'handoff.toml');
    this.trigger = join(options.dir, 'trigger.sock');
    this.log = join(options.dir, 'supervisor.log');
    this.marker = `HANDOFF_SOAK_RUN=${options.dir}`;
    const { runner, dataDir, journal, port } = options;
    const control = join(options.dir, 'control.sock');
    const args = [
      ...runner.nodeArgs,
      runner.kv,
      '--data-dir',
      dataDir,
      '--control-socket',
      control,
      '--log-level',
      'warn',
    ];
    writeFileSync(
      this.config,
      [
        `control_socket = ${JSON.stringify(control)}`,
        `binary = ${JSON.stringify(process.execPath)}`,
        `args = ${JSON.stringify(args)}`,
        `trigger_socket = ${JSON.stringify(this.trigger)}`,
        `journal = ${JSON.stringify(journal)}`,
        `data_dir = ${JSON.stringify(dataDir)}`,
        'log_level = "warn"',
        'drain_grace_secs = 10',
        'deadline_secs = 30',
        'ready_timeout_secs = 2',
        'start_timeout_secs = 20',
        'restart_backoff_ms = 100',
        'max_restarts = 1000',
        'shutdown_grace_secs = 10',
        'verify_revisions = true',
        '[env]',
        `HANDOFF_SOAK_RUN = ${JSON.stringify(options.dir)}`,
        '[[listeners]]',
        'name = "http"',
        `addr = "127.0.0.1:${port}"`,
      ].join('\n'),
    );
  }

  /** Starts `handoff run` (its output appended to the run's log) and waits until its daemon answers. */
  async start(timeoutMs = 30_000): Promise<void> {
    const log = openSync(this.log, 'a');
    const { runner } = this.options;
    this.supervisor = spawn(
      process.execPath,
      [...runner.nodeArgs, runner.cli, 'run', '--config', this.config],
      {
        stdio: ['ignore', log, log],
        detached: true,
        env: { ...process.env, HANDOFF_SOAK_RUN: this.options.dir },
      },
    );
    closeSync(log);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.status().catch(() => undefined);
      if (status?.daemon?.controlSocketAnswers) return;
      if (this.supervisor.exitCode !== null)
        throw new Error(`handoff run exited with ${this.supervisor.exitCode}; see ${this.log}`);
      if (Date.now() > deadline)
        throw new Error(`the service did not come up within ${timeoutMs} ms; see ${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM to the supervisor; resolves with its exit code once it has exited. */
  async stop(): Promise<number | null> {
    const child = this.supervisor;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    return exited;
  }

  /** Resolves once the supervisor process has exited (at once if it has). */
  exited(): Promise<void> {
    const child = this.supervisor;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }

  signal(signal: NodeJS.Signals): void {
    this.supervisor?.kill(signal);
  }

  async status(): Promise<SupervisorStatus | undefined> {
    return (await sendTrigger(this.trigger, 'status')).status as SupervisorStatus | undefined;
  }

  request(line: string, onProgress?: (step: string, ms: number) => void): Promise<TriggerReply> {
    return sendTrigger(this.trigger, line, onProgress);
  }

  /** The live daemon processes of this run (the supervisor excluded). */
  daemons(): number[] {
    return processesWithEnv(this.marker).filter((pid) => pid !== this.supervisor?.pid);
  }

  /** Writes an executable build that runs the kv daemon with `flag` added (e.g. `--hang-at-start`). */
  buildWith(name: string, flag: string): string {
    const path = join(this.options.dir, name);
    writeFileSync(path, `#!/bin/sh\nexec "${process.execPath}" "$@" ${flag}\n`);
    chmodSync(path, 0o755);
    return path;
  }
}

/** Live (non-zombie) processes whose environment holds `entry`. */
export function processesWithEnv(entry: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(entry)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
