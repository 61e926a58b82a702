// `handoff upgrade [binary] [--json] [--wait-probation]`: asks the running supervisor for a handoff over its
// trigger socket and shows each phase as it happens; with --wait-probation it then waits for the new build's
// probation. Exit 0 committed (and, if waited for, passed), 2 rolled back, 3 failed, 4 fell back.

import type { HandoffReport } from '../supervisor/report.js';
import type { ProbationOutcome } from './probation.js';
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

/** What the supervisor replies on `--wait-probation`: a probation outcome, or why there was none. */
type ProbationReply = ProbationOutcome | { readonly result: 'none'; readonly reason: string };

export interface UpgradeOptions {
  readonly json: boolean;
  readonly waitProbation: boolean;
}

export async function runUpgrade(
  triggerPath: string,
  binary: string | undefined,
  options: UpgradeOptions,
): Promise<number> {
  const { json, waitProbation } = options;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (!json) out(`handoff: upgrading${binary ? ` to ${binary}` : ''} via ${triggerPath}`);
  const request = [
    'handoff',
    '--stream',
    ...(waitProbation ? ['--wait-probation'] : []),
    ...(binary ? [binary] : []),
  ];
  const reply = await sendTrigger(triggerPath, request.join(' '), (step, elapsedMs) => {
    if (!json) out(`  ${`+${elapsedMs} ms`.padStart(10)}  ${STEP_LABEL[step] ?? step}`);
    if (!json && step === 'committed' && waitProbation) out('  waiting for the probation of the new build…');
  });
  const report = reply.report as HandoffReport | undefined;
  const probation = reply.probation as ProbationReply | undefined;
  if (json)
    out(
      JSON.stringify(
        report ? { ...report, ...(probation && { probation }) } : { error: reply.result },
        null,
        2,
      ),
    );
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
    if (probation) out(`handoff: ${describeProbation(probation)}`);
  }
  if (!committed) return 2;
  return probation?.result === 'failed' ? 4 : 0;
}

function describeProbation(probation: ProbationReply): string {
  switch (probation.result) {
    case 'passed':
      return `probation passed (${probation.probationMs / 1000} s)`;
    case 'none':
      return `no probation: ${probation.reason}`;
    case 'ended':
      return `probation ended early: ${probation.reason}`;
    case 'failed': {
      const { fallBack } = probation;
      const result =
        fallBack.result === 'serving'
          ? `${fallBack.to.binary} serves again (pid ${fallBack.to.pid})`
          : `the fall-back ${fallBack.result}: ${fallBack.error ?? ''}`;
      return `probation failed: ${probation.reason}; fell back by ${fallBack.how}: ${result}`;
    }
  }
}
