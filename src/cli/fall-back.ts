// A probation's fall-back (docs/operations.md, "Probation"): the previous build replaces the one that
// failed, through an ordinary handoff while the failed build is alive, or a cold start once it is dead.

import type { Logger } from '../log.js';
import type { InstanceSpec } from '../supervisor/spawn.js';
import type { HandoffOutcome } from '../supervisor/supervisor.js';
import type { DaemonKeeper } from './daemon-keeper.js';
import type { FallBackRecord } from './history.js';
import type { ProbationFailure, ProbationSubject } from './probation.js';

export interface FallBackParts {
  readonly keeper: DaemonKeeper;
  /** A handoff to `build` through the supervisor's one-handoff slot (so shutdown interrupts it too). */
  readonly handOff: (build: InstanceSpec) => Promise<HandoffOutcome>;
  readonly logger: Logger;
}

/**
 * Falls back from `subject.build` to `subject.previous`. From the first line on, restarts and SIGHUP use
 * the previous build, so that the failed one is never started again by itself. Resolves with what happened;
 * never rejects.
 */
export async function fallBack(
  subject: ProbationSubject,
  failure: ProbationFailure,
  { keeper, handOff, logger }: FallBackParts,
): Promise<FallBackRecord> {
  const { pid, build: failed, previous } = subject;
  keeper.useBuild(previous);
  const how = keeper.current?.pid === pid ? 'handoff' : 'cold start';
  const base = {
    atUnixMs: Date.now(),
    from: { binary: failed.command, pid },
    cause: failure.cause,
    reason: failure.reason,
    how,
  } as const;
  const to = { binary: previous.command };
  logger.error(
    { ...base, to: previous.command },
    `probation failed: falling back to the previous build by ${how}: ${failure.reason}`,
  );
  try {
    if (how === 'handoff') {
      // Called before any await: the handoff takes the one-handoff slot before anything else can.
      const outcome = await handOff(previous);
      return outcome.status === 'committed'
        ? { ...base, to: { ...to, pid: outcome.child.pid }, result: 'serving', handoffId: outcome.handoffId }
        : { ...base, to, result: 'rolled back', handoffId: outcome.handoffId, error: outcome.reason };
    }
    await keeper.fallBackTo(previous);
    const serving = keeper.current;
    return serving?.build === previous
      ? { ...base, to: { ...to, pid: serving.pid }, result: 'serving' }
      : { ...base, to, result: 'failed', error: 'it did not come up; see the log' };
  } catch (error) {
    return { ...base, to, result: 'failed', error: error instanceof Error ? error.message : String(error) };
  }
}
