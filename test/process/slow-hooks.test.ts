// Hooks slower than the supervisor's liveness timeout (SPEC §4, §5.2 heartbeats): a drain and a seal that
// each take three liveness windows still commit, because the incumbent's heartbeats reset the timeout; the
// same hooks with heartbeats turned off time out, which shows the heartbeats are what carried them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { CrashHarness, SCENARIO_TIMEOUT_MS } from '../helpers/crash-harness.js';
import { openFds } from '../helpers/proc.js';
import { processAlive } from '../helpers/spawn-child.js';
import { waitFor } from '../helpers/wait-for.js';

/** The supervisor's liveness timeout in these tests; every hook below takes three times as long. */
const LIVENESS_MS = 500;
const HOOK_MS = 1500;
/** Incumbent heartbeats slower than any wait here: effectively none. */
const NO_HEARTBEATS = { HANDOFF_HEARTBEAT_INTERVAL_MS: '60000' };

for (const hook of ['drain', 'seal'] as const) {
  const knob = hook === 'drain' ? 'HANDOFF_DRAIN_DELAY_MS' : 'HANDOFF_SEAL_DELAY_MS';

  // O's hook runs 1500 ms against a 500 ms liveness timeout, with heartbeats every 100 ms
  // (HANDOFF_TIMING=fast): the supervisor hears from O throughout and commits. N serves; O exits 0.
  test(`a ${hook} three times the liveness timeout commits: the incumbent's heartbeats carry it`, {
    timeout: SCENARIO_TIMEOUT_MS,
  }, async (t) => {
    const h = new CrashHarness(t);
    const o = await h.startIncumbent(undefined, { [knob]: String(HOOK_MS) });
    const outcome = await h.f
      .supervisor({ livenessTimeoutMs: LIVENESS_MS })
      .performHandoff(h.f.successorSpec());
    assert.equal(outcome.status, 'committed', outcome.status === 'aborted' ? outcome.reason : '');
    if (outcome.status !== 'committed') return;
    h.f.adopt(outcome.child);
    const elapsedMs = outcome.report.phases[hook === 'drain' ? 'drainMs' : 'sealMs'] ?? 0;
    assert.ok(elapsedMs >= HOOK_MS, `${hook} took ${elapsedMs} ms, at least ${HOOK_MS}`);
    assert.deepEqual(await h.exited(o), { code: 0, signal: null }, o.tail());
    const n = outcome.child.pid!;
    assert.equal(await h.converged(n), n);
    h.observer.assertNeverTwo();
  });

  // Control: the same hook with O's heartbeats off. The supervisor gives up after one liveness window
  // (an error, not a rollback: O went silent), kills N, and O recovers on the dropped connection —
  // after a drain it resumes; after a seal it re-takes the flock and resumes.
  test(`the same ${hook} without heartbeats times out after one liveness window and the incumbent recovers`, {
    timeout: SCENARIO_TIMEOUT_MS,
  }, async (t) => {
    const h = new CrashHarness(t);
    const o = await h.startIncumbent(undefined, { [knob]: String(HOOK_MS), ...NO_HEARTBEATS });
    const fdsBefore = openFds();
    const supervisor = h.f.supervisor({ livenessTimeoutMs: LIVENESS_MS });
    await assert.rejects(supervisor.performHandoff(h.f.successorSpec()), (error: unknown) => {
      assert.ok(isHandoffError(error, 'Timeout'), String(error));
      assert.match(error.message, hook === 'drain' ? /no Drained from/ : /did not seal in time/);
      // The read that timed out waited one liveness window, not the phase's budget (the drain grace, the
      // deadline): the supervisor gave up on O's silence while the hook ran. Told by the timeout the read
      // reports, not by the time the handoff took, which includes the successor's start-up.
      const read = hook === 'drain' ? error : error.cause;
      assert.ok(isHandoffError(read, 'Timeout'), String(read));
      assert.equal(read.details.timeoutMs, LIVENESS_MS, read.message);
      return true;
    });
    const report = supervisor.lastReport!;
    assert.equal(processAlive(report.successor.pid!), false, 'N was killed');
    assert.equal(await h.journalPhase(), hook === 'drain' ? 'Negotiating' : undefined);
    await h.converged(o.pid);
    await h.resumedOnce(o.pid);
    h.observer.assertNeverTwo();
    await waitFor(() => openFds() === fdsBefore, {
      what: 'the failed handoff to leave no fd behind (SPEC §1 invariant 6)',
      diagnostics: () => `before: ${fdsBefore}\nafter:  ${openFds()}`,
    });
  });
}
