// `handoff upgrade [binary] [--json]`: asks the running supervisor for a handoff over its trigger socket and
// shows each phase as it happens. Exit 0 committed, 2 rolled back, 3 failed.

import type { HandoffReport } from '../supervisor/report.js';
import { sendTrigger } from './trigger.js';

const STEP_LABEL: Record<string, string> = {
  connected: 'connected to the incumbent',
  spawned: 'started the new build',
  prepare: 'draining the incumbent',
  drained: 'drained',
  sealed: 'sealed (data handed over)',
  begin: 'new build taking over',
  ready: 'new build ready',
  committed: 'committed',
  'rolled back': 'rolled back',
};

export async function runUpgrade(
  triggerPath: string,
  binary: string | undefined,
  json: boolean,
): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (!json) out(`handoff: upgrading${binary ? ` to ${binary}` : ''} via ${triggerPath}`);
  const reply = await sendTrigger(
    triggerPath,
    `handoff --stream${binary ? ` ${binary}` : ''}`,
    (step, elapsedMs) => {
      if (!json) out(`  ${`+${elapsedMs} ms`.padStart(10)}  ${STEP_LABEL[step] ?? step}`);
    },
  );
  const report = reply.report as HandoffReport | undefined;
  if (json) out(JSON.stringify(report ?? { error: reply.result }, null, 2));
  if (reply.result.startsWith('err: ')) {
    if (!json) out(`handoff: error: ${reply.result.slice(5)}`);
    return 3;
  }
  const committed = / committed=true /.test(reply.result);
  if (!json) {
    const phases = report?.phases;
    const total = phases?.totalMs !== undefined ? ` in ${phases.totalMs} ms` : '';
    if (committed)
      out(`handoff: committed${total}: pid ${report?.incumbent.pid} → pid ${report?.successor.pid}`);
    else out(`handoff: rolled back${total}: ${report?.reason ?? reply.result}; the old build keeps serving`);
  }
  return committed ? 0 : 2;
}
