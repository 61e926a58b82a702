// A daemon under a real `handoff run` for process tests: writes the config into a fresh temp dir, starts the
// supervisor (src/cli/main.ts under tsx) in its own process group, sweeps the daemons it leaves in theirs,
// and waits until the daemon answers on its control socket. Also what the kernel says about the listener.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sendTrigger } from '../../src/cli/trigger.js';
import { sweepAfter } from './proc.js';
import { type Child, REPO_ROOT, spawnChild } from './spawn-child.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
export const KV = fileURLToPath(new URL('../../examples/kv/daemon.ts', import.meta.url));

export interface SupervisedOptions {
  /** The daemon's command line after `node --import tsx`; `{data}` and `{control}` are replaced. */
  readonly daemonArgs: readonly string[];
  /** More TOML lines for the config (top-level keys, before the tables). */
  readonly extraToml?: readonly string[];
}

export interface Supervised {
  readonly dir: string;
  readonly data: string;
  readonly control: string;
  readonly trigger: string;
  readonly config: string;
  readonly supervisor: Child;
  /** The port of the supervisor-held listener `http` on 127.0.0.1. */
  readonly port: number;
  /** The serving daemon's pid, from `status`. */
  daemonPid(): Promise<number | undefined>;
}

/** Starts `node --import tsx <daemonArgs>` under `handoff run` with one listener `http` on 127.0.0.1:0. */
export async function startSupervised(t: TestContext, options: SupervisedOptions): Promise<Supervised> {
  const dir = tempDir(t, 'handoff-sup-');
  const data = join(dir, 'data');
  const control = join(dir, 'control.sock');
  const trigger = join(dir, 'trigger.sock');
  const config = join(dir, 'handoff.toml');
  const args = [
    '--import',
    'tsx',
    ...options.daemonArgs.map((a) => a.replaceAll('{data}', data).replaceAll('{control}', control)),
  ];
  writeFileSync(
    config,
    [
      `control_socket = "${control}"`,
      `binary = "${process.execPath}"`,
      `args = ${JSON.stringify(args)}`,
      `trigger_socket = "${trigger}"`,
      'log_level = "warn"',
      ...(options.extraToml ?? []),
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
      '[env]',
      `HANDOFF_SUPERVISED_TEST = "${dir}"`,
    ].join('\n'),
  );
  const supervisor = spawnChild(t, process.execPath, ['--import', 'tsx', CLI, 'run', '--config', config], {
    cwd: REPO_ROOT,
  });
  // After hooks run in order: the supervisor is killed first, then the daemons left in their own groups.
  sweepAfter(t, `HANDOFF_SUPERVISED_TEST=${dir}`);
  const status = async () =>
    existsSync(trigger)
      ? ((await sendTrigger(trigger, 'status')).status as {
          daemon?: { pid: number; controlSocketAnswers: boolean };
          listeners: Array<{ addr: string }>;
        })
      : undefined;
  const port = await waitFor(
    async () => {
      const s = await status();
      return s?.daemon?.controlSocketAnswers ? Number(s.listeners[0]!.addr.split(':').at(-1)) : undefined;
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
    config,
    supervisor,
    port,
    daemonPid: async () => (await status())?.daemon?.pid,
  };
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
