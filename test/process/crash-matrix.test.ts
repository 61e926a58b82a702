// The crash matrix (SPEC §5.4, §8): supervisor, incumbent and successor each killed at every crash point, in
// real processes. Each case checks exit codes and crash markers, the journal, one flock holder at a time, that
// the last holder is the one serving (listener and control socket), and that a follow-up handoff commits.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { CrashEnv, CrashPoint, type CrashPointName } from '../../src/crash.js';
import type { JournalPhase } from '../../src/protocol/journal.js';
import { CrashHarness, SCENARIO_TIMEOUT_MS, SupervisorExit } from '../helpers/crash-harness.js';
import { processEnv } from '../helpers/proc.js';
import { processAlive } from '../helpers/spawn-child.js';
import { waitFor } from '../helpers/wait-for.js';

/** The handoff deadline of the fixture supervisor when not told otherwise (fixtures/supervisor.ts). */
const FIXTURE_DEADLINE_MS = 15_000;
const SUCCESSOR_MARKERS = ['successor-handshake', 'successor-begin', 'successor-pid', 'successor-ready'];
const ALL_STEPS = SUCCESSOR_MARKERS;

interface SupervisorCrash {
  readonly point: CrashPointName;
  /** Names a variant of the point's scenario, with the successor knobs that make it. */
  readonly variant?: { readonly name: string; readonly successorEnv: Record<string, string> };
  /** The journal the crashed supervisor leaves on disk. */
  readonly journal: JournalPhase | undefined;
  /** Who holds the flock and serves at the end; `either` is a race with two legitimate outcomes. */
  readonly server: 'O' | 'N' | 'either';
  /** The successor's progress markers (undefined: never spawned; for `either`, checked per outcome). */
  readonly successorMarkers?: readonly string[];
  /** O had drained, so it calls resumeAfterAbort when the session drops. */
  readonly oResumes?: boolean;
  /** O's exit code when N wins. */
  readonly oExit?: number;
}

const supervisorCrashes: SupervisorCrash[] = [
  // O's session drops before any request: it just keeps serving. N never existed. No journal yet.
  { point: CrashPoint.S_AFTER_O_HELLO, journal: undefined, server: 'O' },
  // N is spawned but its Hello hits a closed socket: it exits without a handshake. O serves; no journal.
  { point: CrashPoint.S_AFTER_SPAWN_SUCCESSOR, journal: undefined, server: 'O', successorMarkers: [] },
  // N shook hands, then sees EOF while waiting for Begin and exits. O serves. The journal write comes after.
  {
    point: CrashPoint.S_AFTER_N_HELLO,
    journal: undefined,
    server: 'O',
    successorMarkers: ['successor-handshake'],
  },
  // O drains, then sees EOF: drained, not sealed → resumeAfterAbort. N exits on EOF. Journal Negotiating.
  {
    point: CrashPoint.S_AFTER_PREPARE_SENT,
    journal: 'Negotiating',
    server: 'O',
    successorMarkers: ['successor-handshake'],
    oResumes: true,
  },
  // Same, with Drained already received; the Draining write comes after the crash point.
  {
    point: CrashPoint.S_AFTER_DRAINED_RECV,
    journal: 'Negotiating',
    server: 'O',
    successorMarkers: ['successor-handshake'],
    oResumes: true,
  },
  // The SealRequest was in O's buffer: O seals and releases the flock, then fails to report it (EOF) →
  // sealed-state error → re-takes the flock (free: N never began) within 2 s and resumes. Journal Draining.
  {
    point: CrashPoint.S_AFTER_SEAL_REQUEST_SENT,
    journal: 'Draining',
    server: 'O',
    successorMarkers: ['successor-handshake'],
    oResumes: true,
  },
  // O sealed, reported it, then sees EOF → re-takes the flock and resumes. Journal still Draining.
  {
    point: CrashPoint.S_AFTER_SEAL_COMPLETE_RECV,
    journal: 'Draining',
    server: 'O',
    successorMarkers: ['successor-handshake'],
    oResumes: true,
  },
  // Begin was sent, then S died. A race with two legitimate ends, exactly one holder either way: N reads
  // Begin, takes the flock and its Ready write fails on the dead socket → N exits, O re-takes the flock and
  // resumes (the usual end here); or N's Ready got out first → N binds the control path and serves, O's
  // 2 s retry fails and O exits 1. Journal Sealing (AwaitingReady is written after the crash point).
  { point: CrashPoint.S_AFTER_BEGIN_SENT, journal: 'Sealing', server: 'either', oResumes: true, oExit: 1 },
  // The same crash with N stalling 300 ms before Ready, which forces the O-wins end: N may take the flock
  // (or find O re-took it first and exit), but its Ready write meets the dead socket and it exits; O's
  // 2 s retry gets the flock and O resumes. N never said Ready. Journal Sealing.
  {
    point: CrashPoint.S_AFTER_BEGIN_SENT,
    variant: { name: 'N slow to Ready', successorEnv: { HANDOFF_READY_DELAY_MS: '300' } },
    journal: 'Sealing',
    server: 'O',
    oResumes: true,
  },
  // N said Ready and serves; O sees EOF while sealed, cannot re-take the flock from N within 2 s, and its
  // serve() rejects with LockHeld → the fixture daemon exits 1. Journal AwaitingReady.
  {
    point: CrashPoint.S_AFTER_READY_RECV,
    journal: 'AwaitingReady',
    server: 'N',
    successorMarkers: ALL_STEPS,
    oExit: 1,
  },
  // Commit reached O: O exits 0, N serves. The Committed write comes after the crash: AwaitingReady stays.
  {
    point: CrashPoint.S_AFTER_COMMIT_SENT,
    journal: 'AwaitingReady',
    server: 'N',
    successorMarkers: ALL_STEPS,
    oExit: 0,
  },
  // Everything done and the journal deleted: N serves, O exited 0, nothing on disk.
  {
    point: CrashPoint.S_AFTER_JOURNAL_CLEAR,
    journal: undefined,
    server: 'N',
    successorMarkers: ALL_STEPS,
    oExit: 0,
  },
];

for (const row of supervisorCrashes) {
  const variant = row.variant ? ` (${row.variant.name})` : '';
  test(`supervisor crash at ${row.point}${variant} → ${row.server === 'either' ? 'O or N' : row.server} serves alone, journal ${row.journal ?? 'none'}; a follow-up commits`, {
    timeout: SCENARIO_TIMEOUT_MS,
  }, async (t) => {
    const h = new CrashHarness(t);
    const o = await h.startIncumbent();
    const run = h.runSupervisor({
      crashAt: row.point,
      ...(row.variant && { successorEnv: row.variant.successorEnv }),
    });
    h.assertCrashed(await h.exited(run.child), 'supervisor', row.point, run.child);
    await run.line(
      'progress',
      (l) => l.step === (row.point === CrashPoint.S_AFTER_O_HELLO ? 'connected' : 'spawned'),
    );
    const n = run.successorPid();
    assert.equal(
      n !== undefined,
      row.point !== CrashPoint.S_AFTER_O_HELLO,
      'N was spawned iff S got that far',
    );
    assert.equal(await h.journalPhase(), row.journal);
    const successorMarkers = () =>
      SUCCESSOR_MARKERS.filter((m) => n !== undefined && h.marker(m).includes(n));
    let winner: number;
    if (row.server === 'O') {
      if (n !== undefined) await h.gone(n, 'the successor');
      winner = await h.converged(o.pid);
      if (row.successorMarkers) assert.deepEqual(successorMarkers(), row.successorMarkers);
      else if (n !== undefined) assert.deepEqual(h.marker('successor-ready'), [], 'N never said Ready');
      assert.deepEqual(h.marker('resume-called'), row.oResumes ? [o.pid] : []);
    } else if (row.server === 'N') {
      assert.ok(n !== undefined);
      assert.deepEqual(await h.exited(o), { code: row.oExit, signal: null }, o.tail());
      winner = await h.converged(n);
      assert.deepEqual(successorMarkers(), row.successorMarkers);
      // SPEC §8: the supervisor's own crash point (and role) never reach its children by inheritance.
      const nEnv = processEnv(n);
      assert.equal(nEnv.HANDOFF_MARKER_DIR, h.f.markerDir, 'N’s environment is readable');
      assert.deepEqual([nEnv[CrashEnv.AT], nEnv[CrashEnv.ROLE]], [undefined, undefined]);
      if (row.oExit === 1) assert.match(o.output(), new RegExp(`data-dir lock on .* held by pid ${n}`));
    } else {
      assert.ok(n !== undefined);
      // Wait for the race to be decided: the loser dies (N on its failed Ready, or O after its 2 s retry).
      await waitFor(() => !processAlive(o.pid) || !processAlive(n), {
        what: 'one of O and N to be gone',
        timeoutMs: 10_000,
        diagnostics: () => h.diagnostics(),
      });
      winner = await h.converged();
      t.diagnostic(`race outcome: ${winner === n ? 'N' : 'O'} won`);
      if (winner === n) {
        assert.deepEqual(await h.exited(o), { code: row.oExit, signal: null }, o.tail());
        assert.match(o.output(), new RegExp(`data-dir lock on .* held by pid ${n}`));
        assert.deepEqual(successorMarkers(), ALL_STEPS);
      } else {
        assert.equal(winner, o.pid);
        await h.gone(n, 'the successor');
        assert.deepEqual(h.marker('successor-ready'), [], 'N never said Ready');
        await h.resumedOnce(o.pid);
      }
    }
    h.observer.assertNeverTwo();
    if (
      row.point === CrashPoint.S_AFTER_SEAL_REQUEST_SENT ||
      row.point === CrashPoint.S_AFTER_SEAL_COMPLETE_RECV
    ) {
      // O re-took the flock because its session dropped, not because its own wait ran out: that timer
      // (the deadline plus twice the slack, from PrepareHandoff) would have left the flock free for most of
      // the deadline, and load never makes a timer fire early. Half the deadline tells the two apart with
      // seconds to spare, where "within 2 s" also timed how fast a busy machine let O react.
      assert.ok(
        h.observer.longestFreeMs() < FIXTURE_DEADLINE_MS / 2,
        `O re-took the flock on the dropped session, long before its deadline\n${h.observer.describe()}`,
      );
    }
    await h.followUpCommits(winner, row.journal, winner === o.pid ? o : undefined);
  });
}

const successorCrashes: Array<{ point: CrashPointName; reason: RegExp }> = [
  // N dies before its Hello: this library reports a successor that fails before its handshake as aborted
  // (a bad build is a rollback, not a supervisor error). O was never asked anything and serves on.
  { point: CrashPoint.N_BEFORE_HANDSHAKE, reason: /^successor failed before its handshake: / },
  // N dies waiting for Begin: S notices at the Begin write or the Ready read, after O sealed → aborted,
  // ResumeAfterAbort → O re-takes the flock and resumes.
  { point: CrashPoint.N_AFTER_HANDSHAKE, reason: /^ready read failed: / },
  // N dies after Begin, before taking the flock: same rollback.
  { point: CrashPoint.N_AFTER_BEGIN, reason: /^ready read failed: / },
  // N dies holding the flock, before Ready: the kernel frees it; O re-takes it on ResumeAfterAbort.
  { point: CrashPoint.N_BEFORE_ANNOUNCE_READY, reason: /^ready read failed: / },
];

for (const row of successorCrashes) {
  test(`successor crash at ${row.point} → aborted (exit 2), N reaped, O serves with the flock; a follow-up commits`, {
    timeout: SCENARIO_TIMEOUT_MS,
  }, async (t) => {
    const h = new CrashHarness(t);
    const o = await h.startIncumbent();
    const run = h.runSupervisor({ crashAtForN: row.point });
    assert.deepEqual(
      await h.exited(run.child),
      { code: SupervisorExit.aborted, signal: null },
      run.child.tail(40),
    );
    const outcome = await run.line('outcome');
    assert.equal(outcome.status, 'aborted');
    assert.match(String((outcome.report as { reason?: string }).reason), row.reason);
    assert.equal(h.crashMarker('successor'), row.point, 'crashed-successor.marker names the point');
    assert.equal(h.crashMarker('supervisor'), undefined);
    const n = run.successorPid();
    assert.ok(n !== undefined);
    assert.equal(processAlive(n), false, 'the supervisor reaped N before it exited');
    assert.equal(await h.journalPhase(), undefined, 'an abort clears the journal');
    assert.equal(await h.converged(o.pid), o.pid);
    const beforeHandshake = row.point === CrashPoint.N_BEFORE_HANDSHAKE;
    assert.deepEqual(h.marker('drain-called'), beforeHandshake ? [] : [o.pid]);
    assert.deepEqual(h.marker('resume-called'), beforeHandshake ? [] : [o.pid]);
    assert.deepEqual(h.marker('successor-ready'), []);
    h.observer.assertNeverTwo();
    await h.followUpCommits(o.pid, undefined, o);
  });
}

interface IncumbentCrash {
  readonly point: CrashPointName;
  readonly supervisorExit: number;
  readonly journal: JournalPhase | undefined;
}

const incumbentCrashes: IncumbentCrash[] = [
  // O dies draining: S errors (EOF awaiting Drained), kills N. Nobody serves, the kernel freed the flock;
  // the journal says Negotiating. A fresh cold start takes over (acquireOrBreakStale) and hands off fine.
  { point: CrashPoint.O_INSIDE_DRAIN, supervisorExit: SupervisorExit.error, journal: 'Negotiating' },
  // O dies after Drained: S journals Draining, then errors on the seal. Same recovery.
  { point: CrashPoint.O_AFTER_DRAINED_SENT, supervisorExit: SupervisorExit.error, journal: 'Draining' },
  // O dies sealing (still holding the flock, which dies with it): S errors; journal Draining.
  { point: CrashPoint.O_INSIDE_SEAL, supervisorExit: SupervisorExit.error, journal: 'Draining' },
  // O released the flock and died before SealComplete: S errors; journal Draining; the flock is free.
  {
    point: CrashPoint.O_AFTER_SEAL_FLOCK_RELEASED,
    supervisorExit: SupervisorExit.error,
    journal: 'Draining',
  },
  // O died after SealComplete: S carries on (Begin, Ready; the Commit write fails, only logged) and
  // commits: the guard is disarmed before Commit for exactly this. N serves; no journal.
  {
    point: CrashPoint.O_AFTER_SEAL_COMPLETE_SENT,
    supervisorExit: SupervisorExit.committed,
    journal: undefined,
  },
  // O died on receiving Commit: committed; N serves; no journal.
  { point: CrashPoint.O_AFTER_COMMIT_RECV, supervisorExit: SupervisorExit.committed, journal: undefined },
];

for (const row of incumbentCrashes) {
  const committed = row.supervisorExit === SupervisorExit.committed;
  test(`incumbent crash at ${row.point} → supervisor exit ${row.supervisorExit}, ${committed ? 'N serves' : 'flock free, a cold start takes over'}; a follow-up commits`, {
    timeout: SCENARIO_TIMEOUT_MS,
  }, async (t) => {
    const h = new CrashHarness(t);
    const o = await h.startIncumbent(row.point);
    const run = h.runSupervisor();
    h.assertCrashed(await h.exited(o), 'incumbent', row.point, o);
    assert.deepEqual(
      await h.exited(run.child),
      { code: row.supervisorExit, signal: null },
      run.child.tail(40),
    );
    assert.equal((await run.line('outcome')).status, committed ? 'committed' : 'error');
    const n = run.successorPid();
    assert.ok(n !== undefined);
    assert.equal(await h.journalPhase(), row.journal);
    if (committed) {
      assert.equal(await h.converged(n), n);
      h.observer.assertNeverTwo();
      await h.followUpCommits(n, undefined);
      return;
    }
    assert.equal(processAlive(n), false, 'the supervisor killed and reaped N before it exited');
    assert.deepEqual(h.f.flockHolders(), [], 'the kernel released the dead incumbent’s flock');
    assert.deepEqual(h.marker('successor-begin'), [], 'N never began');
    const fresh = await h.startIncumbent();
    assert.equal(await h.converged(fresh.pid), fresh.pid);
    await h.followUpCommits(fresh.pid, row.journal, fresh);
  });
}

// seal() fails once: O sends SealFailed, keeps the flock throughout and resumes; S aborts (exit 2), kills N
// and clears the journal. The observer must never see the flock leave O. A retry then commits.
test('a failed seal keeps the incumbent alive with the flock throughout → aborted; a follow-up commits', {
  timeout: SCENARIO_TIMEOUT_MS,
}, async (t) => {
  const h = new CrashHarness(t);
  const o = await h.startIncumbent(undefined, { HANDOFF_SEAL_FAILS_ONCE: '1' });
  const run = h.runSupervisor();
  assert.deepEqual(
    await h.exited(run.child),
    { code: SupervisorExit.aborted, signal: null },
    run.child.tail(40),
  );
  const outcome = await run.line('outcome');
  assert.equal((outcome.report as { reason?: string }).reason, 'seal failed: injected seal failure');
  const n = run.successorPid();
  assert.ok(n !== undefined);
  assert.equal(processAlive(n), false);
  assert.equal(await h.journalPhase(), undefined);
  assert.equal(await h.converged(o.pid), o.pid);
  await h.resumedOnce(o.pid);
  assert.equal(h.observer.longestFreeMs(), 0, `the flock never left O\n${h.observer.describe()}`);
  assert.deepEqual(h.observer.holdersSeen, [o.pid]);
  await h.followUpCommits(o.pid, undefined, o);
});

// Journal recovery: a clean run finds no journal and leaves none; a run crashed at s-after-drained-recv
// leaves Negotiating (and its incumbent resumes); the next supervisor reports that journal, clears it, and
// its own handoff commits.
test('a restarted supervisor reports and clears the journal only after a crashed run, then commits', {
  timeout: SCENARIO_TIMEOUT_MS,
}, async (t) => {
  const h = new CrashHarness(t);
  const o = await h.startIncumbent();

  const clean = h.runSupervisor();
  assert.deepEqual(
    await h.exited(clean.child),
    { code: SupervisorExit.committed, signal: null },
    clean.child.tail(40),
  );
  assert.deepEqual((await clean.line('journal')).journal, null, 'a first run finds no journal');
  assert.equal(existsSync(h.f.journalPath), false, 'a clean run leaves no journal');
  const n1 = clean.successorPid()!;
  assert.deepEqual(await h.exited(o), { code: 0, signal: null });
  assert.equal(await h.converged(n1), n1);

  const crashed = h.runSupervisor({ crashAt: CrashPoint.S_AFTER_DRAINED_RECV });
  h.assertCrashed(
    await h.exited(crashed.child),
    'supervisor',
    CrashPoint.S_AFTER_DRAINED_RECV,
    crashed.child,
  );
  assert.deepEqual((await crashed.line('journal')).journal, null);
  assert.equal(await h.journalPhase(), 'Negotiating');
  const n2 = crashed.successorPid()!;
  await h.gone(n2, 'the crashed run’s successor');
  assert.equal(await h.converged(n1), n1, 'the incumbent resumed');

  const recovery = h.runSupervisor();
  assert.deepEqual(
    await h.exited(recovery.child),
    { code: SupervisorExit.committed, signal: null },
    recovery.child.tail(40),
  );
  const found = (await recovery.line('journal')).journal as Record<string, unknown>;
  assert.equal(found.phase, 'Negotiating');
  assert.equal(found.incumbentPid, n1);
  assert.equal(found.successorPid, n2);
  assert.equal(existsSync(h.f.journalPath), false, 'the recovery run cleared it and left none');
  const n3 = recovery.successorPid()!;
  await h.gone(n1, 'the handed-off incumbent');
  assert.equal(await h.converged(n3), n3);
  h.observer.assertNeverTwo();
});
