// A daemon under a real `handoff run` for process tests: writes the config into a fresh temp dir, starts the
// supervisor (src/cli/main.ts under tsx) in its own process group, sweeps the daemons it leaves in theirs,
// and waits until the daemon answers on its control socket. Also what the kernel says about the listener.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FallBackRecord, HistoryEntry } from '../../src/cli/history.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { killProcessesWithEnv } from './proc.js';
import { type Child, REPO_ROOT, spawnChild } from './spawn-child.js';
import { waitFor } from './wait-for.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** tsx's loader by URL, so a child runs TypeScript from any working directory. */
const TSX = import.meta.resolve('tsx');
export const KV = fileURLToPath(new URL('../../examples/kv/daemon.ts', import.meta.url));
export const FIXTURE_DAEMON = fileURLToPath(new URL('../process/fixtures/daemon.ts', import.meta.url));

export interface SupervisedOptions {
  /**
   * The daemon's command line after `node --import tsx`. In it and in `env`, `{data}`, `{control}`, `{dir}`
   * and `{markers}` are replaced by the data dir, control socket, temp dir and marker dir.
   */
  readonly daemonArgs: readonly string[];
  /** The daemon's extra environment (the config's `env`). */
  readonly env?: Readonly<Record<string, string>>;
  /** More TOML lines for the config (top-level keys, before the tables; placeholders as in daemonArgs). */
  readonly extraToml?: readonly string[];
  /** The address of the listener `http`. Default: 127.0.0.1:0 (a port the kernel picks). */
  readonly listenAddr?: string;
  /** The daemon's data dir. Default: `<dir>/data`. */
  readonly dataDir?: string;
  /** Wait until the daemon answers (default), or return once the supervisor process exists. */
  readonly waitForDaemon?: boolean;
  /** Extra environment for the supervisor itself (e.g. NOTIFY_SOCKET). */
  readonly supervisorEnv?: Readonly<Record<string, string>>;
  /** A command that starts the supervisor (e.g. systemd-socket-activate …): it is given node and its args. */
  readonly launcher?: readonly string[];
}

/** The fixture daemon (test/process/fixtures/daemon.ts) with its paths and fast timing, plus `extra` knobs. */
export function fixtureDaemon(extra: Readonly<Record<string, string>> = {}): SupervisedOptions {
  return {
    daemonArgs: [FIXTURE_DAEMON],
    env: {
      HANDOFF_DATA_DIR: '{data}',
      HANDOFF_CONTROL_SOCKET: '{control}',
      HANDOFF_MARKER_DIR: '{markers}',
      HANDOFF_TIMING: 'fast',
      ...extra,
    },
  };
}

export interface Supervised {
  readonly dir: string;
  readonly data: string;
  readonly control: string;
  readonly trigger: string;
  readonly markers: string;
  readonly config: string;
  readonly supervisor: Child;
  /** The port of the supervisor-held listener `http` on 127.0.0.1 (0 when not waited for). */
  readonly port: number;
  /** The serving daemon's pid, from `status`. */
  daemonPid(): Promise<number | undefined>;
  /** `status` from the trigger socket, or undefined while there is no trigger socket. */
  status(): Promise<SupervisorStatus | undefined>;
}

/** The parts of `handoff status --json` the tests read. */
export interface SupervisorStatus {
  daemon?: { pid: number; buildId?: string; binary: string; args: string[]; controlSocketAnswers?: boolean };
  handoffs: { committed: number; rolledBack: number; failed: number; inProgress: boolean };
  restarts: number;
  restartsGaveUp?: { restarts: number; lastExit: string; lastWords?: string };
  listeners: Array<{ name: string; addr: string; source?: string }>;
  lastReport?: { status: string; reason?: string };
  probation?: { pid: number; binary: string; previous: string };
  lastFallBack?: FallBackRecord;
  rejectedBuild?: { binary: string; reason: string };
  recent: HistoryEntry[];
}

/** Starts `node --import tsx <daemonArgs>` under `handoff run` with one listener `http` on 127.0.0.1:0. */
export async function startSupervised(t: TestContext, options: SupervisedOptions): Promise<Supervised> {
  // Created by hand so that the cleanup below can be registered first: after hooks run in order, and the
  // supervisor and its daemons must be gone before their directory is removed.
  const dir = mkdtempSync(join(tmpdir(), 'handoff-sup-'));
  let supervisorChild: Child | undefined;
  t.after(async () => {
    await supervisorChild?.kill();
    await killProcessesWithEnv(`HANDOFF_SUPERVISED_TEST=${dir}`);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  });
  const data = options.dataDir ?? join(dir, 'data');
  const control = join(dir, 'control.sock');
  const trigger = join(dir, 'trigger.sock');
  const config = join(dir, 'handoff.toml');
  const markers = join(dir, 'markers');
  mkdirSync(markers);
  const fill = (text: string) =>
    text
      .replaceAll('{data}', data)
      .replaceAll('{control}', control)
      .replaceAll('{markers}', markers)
      .replaceAll('{dir}', dir);
  const args = ['--import', 'tsx', ...options.daemonArgs.map(fill)];
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k} = ${JSON.stringify(fill(v))}`);
  writeFileSync(
    config,
    [
      `control_socket = "${control}"`,
      `binary = "${process.execPath}"`,
      `args = ${JSON.stringify(args)}`,
      `trigger_socket = "${trigger}"`,
      'log_level = "warn"',
      ...(options.extraToml ?? []).map(fill),
      '[[listeners]]',
      'name = "http"',
      `addr = "${options.listenAddr ?? '127.0.0.1:0'}"`,
      '[env]',
      `HANDOFF_SUPERVISED_TEST = "${dir}"`,
      ...env,
    ].join('\n'),
  );
  const command = [
    ...(options.launcher ?? []),
    process.execPath,
    '--import',
    'tsx',
    CLI,
    'run',
    '--config',
    config,
  ];
  const supervisor = spawnChild(t, command[0]!, command.slice(1), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.supervisorEnv },
  });
  supervisorChild = supervisor;
  const status = async () =>
    existsSync(trigger) ? ((await sendTrigger(trigger, 'status')).status as SupervisorStatus) : undefined;
  const port =
    options.waitForDaemon === false
      ? 0
      : await waitFor(
          async () => {
            const s = await status();
            return s?.daemon?.controlSocketAnswers
              ? Number(s.listeners[0]!.addr.split(':').at(-1))
              : undefined;
          },
          {
            what: 'the daemon to serve under handoff run',
            timeoutMs: 20_000,
            diagnostics: () => supervisor.tail(),
          },
        );
  return {
    dir,
    data,
    control,
    trigger,
    markers,
    config,
    supervisor,
    port,
    daemonPid: async () => (await status())?.daemon?.pid,
    status,
  };
}

/** Runs `handoff <args>` (the CLI under tsx) as a child of the test. */
export function runCli(t: TestContext, args: readonly string[], cwd: string = REPO_ROOT): Child {
  return spawnChild(t, process.execPath, ['--import', TSX, CLI, ...args], { cwd });
}

/** The pids in marker file `name` of `markers` (one line per event), in order. */
export function markerPids(markers: string, name: string): number[] {
  const path = join(markers, name);
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}

/** The accept-queue limit of the TCP listener on 127.0.0.1:`port`, as `ss` reports it (Send-Q). */
export function listenBacklog(port: number): number {
  const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const fields = line.split(/\s+/);
  if (fields[0] !== 'LISTEN') throw new Error(`no listener on port ${port}: ${JSON.stringify(line)}`);
  return Number(fields[2]);
}

/** The kernel's count of connections dropped because an accept queue was full (TcpExt ListenOverflows). */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const header = lines.find((l) => l.startsWith('TcpExt:') && l.includes('ListenOverflows'));
  const values = lines.find((l) => l.startsWith('TcpExt:') && /^TcpExt:\s+\d/.test(l));
  if (!header || !values) throw new Error('no TcpExt ListenOverflows in /proc/net/netstat');
  const index = header.split(/\s+/).indexOf('ListenOverflows');
  return Number(values.split(/\s+/)[index]);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a config that must name its port up front). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Connects to 127.0.0.1:`port` and resolves with the pid a fixture daemon answers with. */
export function askPid(port: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer on port ${port}`)), timeoutMs);
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Number(data.trim()));
    });
  });
}

/**
 * Writes an executable "build" at `<dir>/<name>`: it runs node with the configured arguments (which name the
 * daemon) and `env` on top, then `extraArgs` (the daemon's own flags), so one handoff can start a build that
 * behaves differently from the rest.
 */
export function buildScript(
  dir: string,
  name: string,
  env: Readonly<Record<string, string>> = {},
  extraArgs: readonly string[] = [],
): string {
  const path = join(dir, name);
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  const args = extraArgs.map((arg) => JSON.stringify(arg)).join(' ');
  writeFileSync(path, `#!/bin/sh\nexec env ${assignments.join(' ')} "${process.execPath}" "$@" ${args}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Whether process `pid` has a handler installed for signal number `signo` (SigCgt in /proc/<pid>/status). */
export function catchesSignal(pid: number, signo: number): boolean {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SigCgt:'));
  return line !== undefined && ((BigInt(`0x${line.split(/\s+/)[1]}`) >> BigInt(signo - 1)) & 1n) === 1n;
}
