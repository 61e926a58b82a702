// One handoff's steps (src/supervisor/handoff-run.ts, SPEC §5.1) between real processes, run through
// Supervisor.performHandoff, their one caller: the test process is the supervisor, the fixture daemon plays
// the incumbent and the successor. Each rollback case ends with the incumbent holding the flock, answering
// on the listener and owning the control path, and no successor left.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { socketFd } from '../../src/os.js';
import type { HandoffOutcome } from '../../src/supervisor/handoff-run.js';
import type { HandoffSpec } from '../../src/supervisor/options.js';
import { FakeSupervisor } from '../helpers/fake-supervisor.js';
import { HandoffFixture } from '../helpers/handoff-fixture.js';
import { openFds } from '../helpers/proc.js';
import { type Child, processAlive } from '../helpers/spawn-child.js';
import { waitFor } from '../helpers/wait-for.js';

/** The state every rollback must return to: the old incumbent alone owns everything and serves. */
async function assertIncumbentBack(
  t: TestContext,
  f: HandoffFixture,
  incumbent: Child,
  outcome: HandoffOutcome,
) {
  assert.equal(outcome.status, 'aborted');
  const successorPid = outcome.report.successor.pid;
  if (successorPid !== undefined) assert.equal(processAlive(successorPid), false, 'the successor was reaped');
  await waitFor(() => f.flockHolders().join() === String(incumbent.pid), {
    what: `the flock back with the incumbent ${incumbent.pid} (holders: ${f.flockHolders()})`,
    diagnostics: () => incumbent.tail(),
  });
  assert.equal(await f.askHttp(), incumbent.pid, 'the incumbent serves the listener again');
  const probe = await FakeSupervisor.connect(t, f.controlPath, { ack: false });
  assert.equal(probe.hello.pid, incumbent.pid, 'the control path leads to the incumbent');
  probe.close();
  assert.equal(existsSync(f.journalPath), false, 'no journal left');
}

test('a committed handoff: the successor takes the listener, the flock and the control path; O exits 0', async (t) => {
  const f = new HandoffFixture(t);
  const fdsBefore = openFds();
  const o = await f.startIncumbent();
  const sup = f.supervisor();
  let duringGap: Promise<number> | undefined;
  const outcome = await sup.performHandoff(
    f.successorSpec(
      {},
      {
        // O has drained (stopped accepting) and N has not started: this client waits in the kernel's queue.
        onProgress: (step) => {
          if (step === 'sealed') duringGap = f.askHttp();
        },
      },
    ),
  );
  assert.equal(outcome.status, 'committed', outcome.status === 'aborted' ? outcome.reason : '');
  if (outcome.status !== 'committed') return;
  f.adopt(outcome.child);
  const n = outcome.child.pid!;
  assert.equal(outcome.report.successor.pid, n);
  assert.equal(outcome.report.incumbent.pid, o.pid);
  assert.deepEqual(
    [outcome.report.incumbent.buildId, outcome.report.successor.buildId],
    ['fixture-cold', 'fixture-successor'],
  );
  for (const phase of [
    'helloMs',
    'spawnToHelloMs',
    'drainMs',
    'sealMs',
    'beginToReadyMs',
    'totalMs',
  ] as const) {
    assert.equal(typeof outcome.report.phases[phase], 'number', phase);
  }
  assert.equal(await duringGap, n, 'the client that connected during the gap is served by N');
  assert.deepEqual(await o.exited, { code: 0, signal: null }, o.tail());
  assert.deepEqual(f.flockHolders(), [n]);
  assert.equal(await f.askHttp(), n);
  const probe = await FakeSupervisor.connect(t, f.controlPath, { ack: false });
  assert.equal(probe.hello.pid, n, 'N owns the control path');
  probe.close();
  assert.equal(existsSync(f.journalPath), false, 'no journal left');
  // Sockets close asynchronously in libuv: wait (bounded) for the last ones, then compare exactly. The one
  // new fd is N's stderr, which the supervisor passes through for as long as N lives (the caller owns it).
  const stderrFd = socketFd(outcome.child.stderr as Socket);
  const withoutStderr = () =>
    openFds()
      .split(' ')
      .filter((entry) => !entry.startsWith(`${stderrFd}->`))
      .join(' ');
  await waitFor(() => withoutStderr() === fdsBefore, {
    what: "the supervisor's fds to be exactly what they were, plus N's stderr",
    diagnostics: () => `before: ${fdsBefore}\nafter:  ${openFds()}`,
  });
});

const rollbacks: Array<[string, Record<string, string>, Partial<HandoffSpec>, RegExp]> = [
  [
    'N exits before Hello',
    { HANDOFF_CRASH_AT: 'n-before-handshake' },
    {},
    /successor failed before its handshake: .*closed/,
  ],
  ['N dies before Begin', { HANDOFF_CRASH_AT: 'n-after-handshake' }, {}, /^ready read failed|^ready phase/],
  [
    'N dies after Begin, before taking the flock',
    { HANDOFF_CRASH_AT: 'n-after-begin' },
    {},
    /^ready read failed/,
  ],
  [
    'N dies after taking the flock, before Ready',
    { HANDOFF_CRASH_AT: 'n-before-announce-ready' },
    {},
    /^ready read failed/,
  ],
  [
    'N never sends Ready',
    { HANDOFF_READY_DELAY_MS: '60000' },
    { deadlineMs: 2500 },
    /^ready phase timed out waiting for Ready$/,
  ],
  ['N reports healthzOk=false', { HANDOFF_HEALTHZ: 'false' }, {}, /^successor reported healthzOk=false$/],
  [
    'N advertises revisions other than the sealed ones',
    { HANDOFF_ADVERTISE_OFFSET: '7' },
    { verifyRevisions: true },
    /^successor advertised revisions \[8\] but the incumbent sealed \[1\]$/,
  ],
];
for (const [scenario, env, spec, reason] of rollbacks) {
  test(`rollback: ${scenario} → aborted, N reaped, O owns the flock, the listener and the control path`, async (t) => {
    const f = new HandoffFixture(t);
    const o = await f.startIncumbent();
    const outcome = await f.supervisor().performHandoff(f.successorSpec(env, spec));
    assert.equal(outcome.status, 'aborted');
    if (outcome.status !== 'aborted') return;
    assert.match(outcome.reason, reason);
    await assertIncumbentBack(t, f, o, outcome);
  });
}

test('rollback: N announces another pid (a wrapper that does not exec) → aborted with PidMismatch', async (t) => {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent();
  const spec = f.successorSpec();
  // `; true` keeps the shell alive as the parent, so the daemon's pid is not the one spawned.
  const wrapped = {
    ...spec,
    command: '/bin/sh',
    args: ['-c', `"$0" "$@"; true`, spec.command, ...(spec.args ?? [])],
  };
  const outcome = await f.supervisor().performHandoff(wrapped);
  assert.equal(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  assert.match(outcome.reason, /successor announced pid \d+, but we spawned pid \d+/);
  await assertIncumbentBack(t, f, o, outcome);
});

test('a failed seal → aborted, N killed, O kept the flock throughout and serves; a retry commits', async (t) => {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent({ HANDOFF_SEAL_FAILS_ONCE: '1' });
  const sup = f.supervisor();
  const outcome = await sup.performHandoff(f.successorSpec());
  assert.equal(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  assert.equal(outcome.reason, 'seal failed: injected seal failure');
  // O sends SealFailed, then resumes (SPEC §5.2): the supervisor may return before the resume is done.
  await waitFor(() => f.markerPids('resume-called').join() === String(o.pid), {
    what: `resume-called by the incumbent ${o.pid} alone`,
    diagnostics: () => `resume-called: ${f.markerPids('resume-called')}\n${o.tail()}`,
  });
  await assertIncumbentBack(t, f, o, outcome);
  const retry = await sup.performHandoff(f.successorSpec());
  assert.equal(retry.status, 'committed');
  if (retry.status === 'committed') f.adopt(retry.child);
  assert.deepEqual(await o.exited, { code: 0, signal: null });
});

test('a successor binary that does not exist → aborted, naming it', async (t) => {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent();
  const outcome = await f
    .supervisor()
    .performHandoff({ ...f.successorSpec(), command: '/nonexistent/daemon-v2' });
  assert.equal(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  assert.match(outcome.reason, /cannot start successor \/nonexistent\/daemon-v2: .*ENOENT/);
  await assertIncumbentBack(t, f, o, outcome);
});
