// `npm run demo`: the kv daemon under `handoff run`, real HTTP load for the whole run, N handoffs to new
// builds plus one to a broken build that must roll back by itself, then every acknowledged write read back.
// Prints a report (or --json) and exits non-zero if any request failed or any acknowledged write was lost.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sendTrigger } from '../src/cli/trigger.js';
import type { HandoffReport } from '../src/supervisor/report.js';
import { DemoLoad } from './demo-load.js';
import { type DemoResult, printReport } from './demo-report.js';

const { values } = parseArgs({
  options: {
    handoffs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const handoffCount = Number(values.handoffs);
if (!Number.isInteger(handoffCount) || handoffCount < 0) {
  process.stderr.write(`demo: --handoffs must be a non-negative integer, got ${values.handoffs}\n`);
  process.exit(2);
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // dist/scripts/ → repo root
const CLI = join(ROOT, 'dist/src/cli/main.js');
const KV = join(ROOT, 'examples/kv/bin/kv');
const KV_BROKEN = join(ROOT, 'examples/kv/bin/kv-broken');
const say = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-demo-'));
  const paths = {
    config: join(dir, 'handoff.toml'),
    control: join(dir, 'control.sock'),
    trigger: join(dir, 'trigger.sock'),
    data: join(dir, 'data'),
    log: join(dir, 'supervisor.log'),
  };
  writeFileSync(
    paths.config,
    [
      `control_socket = "${paths.control}"`,
      `binary = "${KV}"`,
      `args = ["--data-dir", "${paths.data}", "--control-socket", "${paths.control}", "--log-level", "warn"]`,
      `trigger_socket = "${paths.trigger}"`,
      `journal = "${join(dir, 'journal.bin')}"`,
      `data_dir = "${paths.data}"`,
      'drain_grace_secs = 10',
      'deadline_secs = 30',
      'verify_revisions = true',
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
    ].join('\n'),
  );
  say(`handoff demo: kv daemon under \`handoff run\` in ${dir}`);
  const log = openSync(paths.log, 'a');
  const supervisor = spawn(process.execPath, [CLI, 'run', '--config', paths.config], {
    stdio: ['ignore', log, log],
    detached: true,
  });
  const stopSupervisor = once(() => stop(supervisor));
  process.once('SIGINT', () => void stopSupervisor().then(() => process.exit(130)));
  try {
    const port = await waitForSupervisor(paths.trigger);
    say(`supervisor pid ${supervisor.pid} holds 127.0.0.1:${port}; logs in ${paths.log}`);
    const load = new DemoLoad(port);
    load.start(4, 4, 2);
    say('load: 4 keep-alive writers, 4 keep-alive readers, 2+2 new-connection clients');
    await delay(1500);

    const reports: HandoffReport[] = [];
    const windows: Array<[number, number]> = [];
    const run = async (label: string, binary?: string) => {
      const started = load.elapsedMs();
      const steps: string[] = [];
      const reply = await sendTrigger(
        paths.trigger,
        `handoff --stream${binary ? ` ${binary}` : ''}`,
        (step, ms) => {
          steps.push(`${step} +${ms}`);
        },
      );
      windows.push([started, load.elapsedMs()]);
      const report = reply.report as HandoffReport;
      reports.push(report);
      say(
        `  ${label.padEnd(22)} ${report.status.padEnd(9)} ${report.phases.totalMs?.toFixed(0).padStart(5)} ms  ${report.reason ?? steps.join(' → ')}`,
      );
      return report;
    };
    say(`handoffs (${handoffCount} to new builds, then 1 to a build that fails at start):`);
    for (let i = 1; i <= handoffCount; i++) {
      await run(`#${i} → kv`);
      await delay(1000);
    }
    await run('#broken → kv-broken', KV_BROKEN);
    await delay(1000);
    await load.stop();
    say('load stopped; reading back every acknowledged write…');
    const lost = await load.verify();
    const result: DemoResult = { load, reports, windows, lost, dir: paths };
    const failures = printReport(result, values.json);
    return failures ? 1 : 0;
  } finally {
    await stopSupervisor();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits (bounded) until the supervisor serves its trigger socket, and returns the listener's port. */
async function waitForSupervisor(trigger: string): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
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
    if (Date.now() > deadline) throw new Error('the supervisor did not come up within 20 s (see its log)');
    await delay(100);
  }
}

/** SIGTERM the supervisor (it stops the daemon), SIGKILL its group if it takes too long. */
async function stop(child: ChildProcess): Promise<void> {
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

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= fn());
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
