// Deploying with handoff: the daemon runs under `handoff run`, and a deploy is one trigger-socket handoff
// (what `handoff upgrade` sends), answered once the new build serves and the old one has exited.

import { sendTrigger } from '../../src/cli/trigger.js';
import type { HandoffReport } from '../../src/supervisor/report.js';
import { ACCEPT_LOG_ENV } from '../accept-gap.js';
import { startHandoffRun } from '../handoff-run.js';
import { ACCEPT_LOG_MODULE, type Deployment, handoffDaemonArgs, type WaySetup } from './way.js';

export async function startWithHandoff(setup: WaySetup): Promise<Deployment> {
  const run = await startHandoffRun({
    dir: setup.dir,
    binary: process.execPath,
    args: ['--import', ACCEPT_LOG_MODULE, ...handoffDaemonArgs(setup.kind), ...(setup.daemonArgs ?? [])],
    dataDir: setup.dataDir,
    env: { [ACCEPT_LOG_ENV]: setup.acceptLog },
    logLevel: 'warn',
    ...(setup.startTimeoutMs !== undefined && { startTimeoutMs: setup.startTimeoutMs }),
    ...(setup.defaultBudgets && { defaultBudgets: true }),
  });
  return {
    port: run.port,
    supervisorPid: run.pid,
    async deploy() {
      try {
        const reply = await sendTrigger(run.paths.trigger, 'handoff --stream');
        const report = reply.report as HandoffReport | undefined;
        const ok = report?.status === 'committed';
        return { ok, phases: report?.phases ?? {}, ...(!ok && { detail: report?.reason ?? reply.result }) };
      } catch (error) {
        return { ok: false, detail: error instanceof Error ? error.message : String(error) };
      }
    },
    stop: () => run.stop(),
  };
}
