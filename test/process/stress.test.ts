// 100 consecutive handoffs through one in-process Supervisor, each successor the next incumbent (the crate's
// stress test, stricter): each commits, leaves no journal, and its old incumbent exits 0 and is reaped;
// afterwards this process has exactly its old fds and children, and no fixture process is left.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { killGroupAndReap } from '../../src/supervisor/spawn.js';
import { CrashHarness } from '../helpers/crash-harness.js';
import { DAEMON } from '../helpers/handoff-fixture.js';
import { listProcesses, openFds, type ProcessInfo } from '../helpers/proc.js';
import { waitFor } from '../helpers/wait-for.js';

const HANDOFFS = 100;

/** Our children (zombies included), and every process running this worktree's fixture daemon. */
function ourProcesses(): ProcessInfo[] {
  return listProcesses().filter((p) => p.ppid === process.pid || p.cmdline.includes(DAEMON));
}

function describe(processes: readonly ProcessInfo[]): string {
  return processes.map((p) => `${p.pid} (ppid ${p.ppid}, ${p.state}): ${p.cmdline}`).join('\n');
}

test(`${HANDOFFS} consecutive handoffs all commit, leave no journal, and leak no fd or process`, {
  timeout: 240_000,
}, async (t) => {
  const h = new CrashHarness(t);
  // Before anything of the run exists (tsx's esbuild service may already be our child: it stays).
  const fdsBefore = openFds();
  const childrenBefore = new Set(ourProcesses().map((p) => p.pid));
  let current: ChildProcess | undefined;
  t.after(() => current && killGroupAndReap(current));

  const started = performance.now();
  const first = await h.startIncumbent();
  const supervisor = h.f.supervisor();
  let incumbentPid = first.pid;
  for (let i = 1; i <= HANDOFFS; i++) {
    const outcome = await supervisor.performHandoff(h.f.successorSpec());
    const what = `handoff ${i}`;
    assert.equal(
      outcome.status,
      'committed',
      `${what}: ${outcome.status === 'aborted' ? outcome.reason : ''}`,
    );
    if (outcome.status !== 'committed') return;
    const previous = current;
    current = outcome.child;
    assert.equal(outcome.report.incumbent.pid, incumbentPid, `${what} started from the last successor`);
    assert.equal(existsSync(h.f.journalPath), false, `${what} left no journal`);
    if (previous) {
      await waitFor(() => previous.exitCode !== null || previous.signalCode !== null, {
        what: `${what}: the old incumbent ${previous.pid} to exit and be reaped`,
        timeoutMs: 10_000,
      });
      assert.deepEqual(
        [previous.exitCode, previous.signalCode],
        [0, null],
        `${what}: the old incumbent exited 0`,
      );
    } else {
      assert.deepEqual(await h.exited(first), { code: 0, signal: null }, first.tail());
    }
    incumbentPid = outcome.child.pid!;
  }
  const wallMs = performance.now() - started;
  t.diagnostic(
    `${HANDOFFS} handoffs in ${(wallMs / 1000).toFixed(1)} s (${(wallMs / HANDOFFS).toFixed(0)} ms each)`,
  );

  assert.equal(await h.converged(incumbentPid), incumbentPid, 'the last successor serves alone');
  h.observer.stop();
  h.observer.assertNeverTwo();
  assert.equal(h.observer.holdersSeen.length, HANDOFFS + 1, 'each instance held the flock in turn');

  // The one live incumbent is our only new process; no zombie and no other fixture is left.
  const extra = () => ourProcesses().filter((p) => !childrenBefore.has(p.pid));
  assert.deepEqual(
    extra().map((p) => [p.pid, p.state === 'Z' ? 'zombie' : 'live']),
    [[incumbentPid, 'live']],
    describe(extra()),
  );
  await killGroupAndReap(current!);
  await waitFor(() => extra().length === 0, {
    what: 'no process of the run left',
    diagnostics: () => describe(extra()),
  });

  // Sockets close asynchronously in libuv: wait (bounded) for the last ones, then compare exactly.
  await waitFor(() => openFds() === fdsBefore, {
    what: 'exactly the fds this process had before the run',
    diagnostics: () => `before: ${fdsBefore}\nafter:  ${openFds()}`,
  });
});
