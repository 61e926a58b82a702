// Deploying by kill-and-restart, what `systemctl restart` does: SIGTERM the daemon, wait for it to exit,
// start the new one on the same port, and call it done once it prints that it listens.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ACCEPT_LOG_ENV } from '../accept-gap.js';
import { ACCEPT_LOG_MODULE, type Deployment, freePort, plainDaemonArgs, type WaySetup } from './way.js';

/** How long a daemon may take to listen (unless the setup says), and to exit after SIGTERM before SIGKILL. */
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;

export async function startWithRestart(setup: WaySetup): Promise<Deployment> {
  const port = await freePort();
  const log = join(setup.dir, 'daemon.log');
  const start = async (): Promise<ChildProcess> => {
    const out = openSync(log, 'a');
    const child = spawn(process.execPath, ['--import', ACCEPT_LOG_MODULE, ...plainDaemonArgs(setup, port)], {
      detached: true,
      stdio: ['ignore', 'pipe', out],
      env: { ...process.env, [ACCEPT_LOG_ENV]: setup.acceptLog },
    });
    closeSync(out);
    await listening(child, setup.startTimeoutMs ?? START_TIMEOUT_MS);
    return child;
  };
  let current: ChildProcess | undefined = await start();
  let stopped = false;
  return {
    port,
    supervisorPid: undefined,
    async deploy() {
      try {
        if (current) await stopGroup(current);
        current = undefined;
        current = await start();
        return { ok: true };
      } catch (error) {
        return { ok: false, detail: error instanceof Error ? error.message : String(error) };
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (current) await stopGroup(current);
    },
  };
}

/** Resolves when the daemon prints `listening`; rejects if it exits first or takes too long. */
function listening(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => fail(new Error(`no "listening" within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`the daemon exited (${code ?? signal}) before it listened`));
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (!text.includes('listening')) return;
      cleanUp();
      child.stdout?.resume(); // keep draining its stdout
      resolve();
    };
    const cleanUp = () => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.off('data', onData);
    };
    const fail = (error: Error) => {
      cleanUp();
      killGroup(child, 'SIGKILL');
      reject(error);
    };
    child.once('exit', onExit);
    child.stdout?.on('data', onData);
  });
}

/** SIGTERM to the daemon's group and wait for its exit; SIGKILL the group if it takes too long. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // gone
  }
}
