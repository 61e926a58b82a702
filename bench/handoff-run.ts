// Starts `handoff run` (the supervisor, as the package's `handoff` bin runs it) on a generated config in its
// own process group, waits until its daemon answers, and stops it again: shared by `npm run demo` and
// `npm run bench`.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { sendTrigger } from '../src/cli/trigger.js';

/** The repository root, from dist/bench/ (built) or bench/ (tsx). */
export const ROOT = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url),
);
/** The `handoff` bin as published (package.json `bin`): a launcher that runs HANDOFF_CLI with Node's flags. */
export const HANDOFF_BIN = join(ROOT, 'bin/handoff');
/** The command line's bundled code, for running it under other flags. */
export const HANDOFF_CLI = join(ROOT, 'dist/lib/cli.js');

export interface HandoffRunOptions {
  /** A directory of its own: the config, sockets, journal and log go here. */
  readonly dir: string;
  /** The daemon executable (it must exec the daemon, or be node itself). */
  readonly binary: string;
  /** Arguments before the generated `--data-dir DIR --control-socket PATH`. */
  readonly args?: readonly string[];
  /** The daemon's data dir. Default: `<dir>/data`. */
  readonly dataDir?: string;
  /** Extra environment for the daemon. */
  readonly env?: Readonly<Record<string, string>>;
  /** The supervisor's log level. Default: info. */
  readonly logLevel?: string;
  /** How long the supervisor and its daemon may take to come up, in ms. Default: 20000. */
  readonly startTimeoutMs?: number;
  /** Leave drain_grace_secs and deadline_secs at the supervisor's defaults (25 s, 60 s), not 10 s and 30 s. */
  readonly defaultBudgets?: boolean;
  /** How to start the supervisor, before `run --config …`. Default: `[HANDOFF_BIN]`. */
  readonly command?: readonly [string, ...string[]];
}

export interface HandoffRun {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The port of the supervisor-held listener `http` on 127.0.0.1. */
  readonly port: number;
  readonly paths: { config: string; control: string; trigger: string; data: string; log: string };
  /** SIGTERM (the supervisor stops the daemon), SIGKILL to the group after 15 s. Idempotent. */
  stop(): Promise<void>;
}

/** Writes the config, spawns `handoff run`, and resolves once the daemon's control socket answers. */
export async function startHandoffRun(options: HandoffRunOptions): Promise<HandoffRun> {
  const { dir } = options;
  const paths = {
    config: join(dir, 'handoff.toml'),
    control: join(dir, 'control.sock'),
    trigger: join(dir, 'trigger.sock'),
    data: options.dataDir ?? join(dir, 'data'),
    log: join(dir, 'supervisor.log'),
  };
  const args = [...(options.args ?? []), '--data-dir', paths.data, '--control-socket', paths.control];
  const env = Object.entries(options.env ?? {}).map(
    ([key, value]) => `${JSON.stringify(key)} = ${JSON.stringify(value)}`,
  );
  writeFileSync(
    paths.config,
    [
      `control_socket = ${JSON.stringify(paths.control)}`,
      `binary = ${JSON.stringify(options.binary)}`,
      `args = ${JSON.stringify(args)}`,
      `trigger_socket = ${JSON.stringify(paths.trigger)}`,
      `journal = ${JSON.stringify(join(dir, 'journal.bin'))}`,
      `data_dir = ${JSON.stringify(paths.data)}`,
      `log_level = ${JSON.stringify(options.logLevel ?? 'info')}`,
      ...(options.defaultBudgets ? [] : ['drain_grace_secs = 10', 'deadline_secs = 30']),
      'verify_revisions = true',
      '[env]',
      ...env,
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
    ].join('\n'),
  );
  const log = openSync(paths.log, 'a');
  const [file, ...prefix] = options.command ?? [HANDOFF_BIN];
  const child = spawn(file, [...prefix, 'run', '--config', paths.config], {
    stdio: ['ignore', log, log],
    detached: true,
  });
  closeSync(log);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopChild(child));
  try {
    const port = await waitForSupervisor(child, paths.trigger, options.startTimeoutMs ?? 20_000);
    return { child, pid: child.pid!, port, paths, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits (bounded) until the supervisor serves its trigger socket and its daemon answers; returns the port. */
async function waitForSupervisor(child: ChildProcess, trigger: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`handoff run exited (${child.exitCode ?? child.signalCode}) before it served`);
    }
    try {
      const reply = await sendTrigger(trigger, 'status');
      const status = reply.status as {
        daemon?: { controlSocketAnswers: boolean };
        listeners: Array<{ addr: string }>;
      };
      if (status.daemon?.controlSocketAnswers) return Number(status.listeners[0]?.addr.split(':').at(-1));
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(`the supervisor did not come up within ${timeoutMs} ms (see its log)`);
    }
    await delay(100);
  }
}

/** SIGTERM the supervisor (it stops the daemon), SIGKILL its group if it takes too long. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 15_000);
  await exited;
  clearTimeout(timer);
}
