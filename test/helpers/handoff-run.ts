// `handoff run` (the CLI from source, under tsx) supervising a daemon from source, for process tests: a
// temp dir with the config, the supervisor killed by group and its daemons swept when the test ends.

import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sendTrigger } from '../../src/cli/trigger.js';
import type { HandoffReport } from '../../src/supervisor/report.js';
import { sweepAfter } from './proc.js';
import { type Child, REPO_ROOT, spawnChild } from './spawn-child.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface SupervisedDaemon {
  readonly dir: string;
  readonly dataDir: string;
  readonly port: number;
  readonly supervisor: Child;
  /** One handoff to the same build; returns the report (status 'committed' expected). */
  handoff(): Promise<HandoffReport>;
}

/**
 * Starts `handoff run` on a listener `http` at 127.0.0.1:0 with `node --import tsx <script> <args>
 * --data-dir D --control-socket C` as the daemon, in a fresh temp dir, and waits until the daemon serves.
 */
export async function superviseDaemon(
  t: TestContext,
  script: string,
  args: readonly string[],
): Promise<SupervisedDaemon> {
  // Registered before the temp dir, so it runs first (after-hooks run in order): every process of this
  // test (the supervisor and the daemons, in groups of their own) is dead before the dir is removed.
  const marker = `HANDOFF_SERVERS_TEST=${randomUUID()}`;
  sweepAfter(t, marker);
  const dir = tempDir(t, 'handoff-servers-');
  const dataDir = join(dir, 'data');
  const control = join(dir, 'control.sock');
  const trigger = join(dir, 'trigger.sock');
  const config = join(dir, 'handoff.toml');
  const daemonArgs = ['--import', 'tsx', script, ...args, '--data-dir', dataDir, '--control-socket', control];
  writeFileSync(
    config,
    [
      `control_socket = "${control}"`,
      `binary = "${process.execPath}"`,
      `args = ${JSON.stringify(daemonArgs)}`,
      `trigger_socket = "${trigger}"`,
      'log_level = "warn"',
      'drain_grace_secs = 10',
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
    ].join('\n'),
  );
  // The daemons inherit the supervisor's environment, marker included.
  const [name, value] = marker.split('=') as [string, string];
  const supervisor = spawnChild(t, process.execPath, ['--import', 'tsx', CLI, 'run', '--config', config], {
    cwd: REPO_ROOT,
    env: { ...process.env, [name]: value },
  });
  const port = await waitFor(
    async () => {
      if (!existsSync(trigger)) return undefined;
      const status = (await sendTrigger(trigger, 'status')).status as {
        daemon?: { controlSocketAnswers: boolean };
        listeners: Array<{ addr: string }>;
      };
      return status.daemon?.controlSocketAnswers
        ? Number(status.listeners[0]!.addr.split(':').at(-1))
        : undefined;
    },
    { what: 'the daemon to serve', timeoutMs: 30_000, diagnostics: () => supervisor.tail() },
  );
  return {
    dir,
    dataDir,
    port,
    supervisor,
    async handoff() {
      const reply = await sendTrigger(trigger, 'handoff --stream');
      return reply.report as HandoffReport;
    },
  };
}
