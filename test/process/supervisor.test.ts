// The supervisor driving real handoffs between real processes (SPEC §5.1): the test process is the
// supervisor, the fixture daemon plays the incumbent and the successor. Each rollback case ends with the
// incumbent holding the flock, answering on the listener and owning the control path, and no successor left.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { socketFd } from '../../src/os.js';
import { newHandoffId } from '../../src/protocol/handoff-id.js';
import { writeJournal } from '../../src/supervisor/journal.js';
import type { HandoffSpec } from '../../src/supervisor/options.js';
import type { HandoffOutcome } from '../../src/supervisor/supervisor.js';
import { HELLO_READ_TIMEOUT_MS } from '../../src/timing.js';
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

test('a second concurrent performHandoff fails at once with HandoffInProgress', async (t) => {
  const f = new HandoffFixture(t);
  await f.startIncumbent();
  const sup = f.supervisor();
  // "At once" as an order, not a duration: the refusal comes before the first handoff reaches its first
  // step (connected, which takes a connection and the incumbent's Hello), so it waited for nothing of it.
  const order: string[] = [];
  const first = sup.performHandoff(f.successorSpec({}, { onProgress: (step) => order.push(step) }));
  await assert.rejects(
    sup.performHandoff(f.successorSpec()).finally(() => order.push('second refused')),
    (e: unknown) => isHandoffError(e, 'HandoffInProgress'),
  );
  const outcome = await first;
  assert.equal(outcome.status, 'committed');
  if (outcome.status === 'committed') f.adopt(outcome.child);
  // The first handoff's steps were recorded (so an empty record cannot pass), all after the refusal.
  assert.deepEqual(
    [order[0], order[1], order.at(-1)],
    ['second refused', 'connected', 'committed'],
    `the order of events: ${order.join(', ')}`,
  );
});

test('a supervisor started with the journal of a crashed run reports it, probes the incumbent and clears it', async (t) => {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent();
  const journal = {
    handoffId: newHandoffId(),
    phase: 'Draining' as const,
    incumbentPid: o.pid,
    successorPid: 999_999,
    startedAtUnixMs: 1_700_000_000_000n,
  };
  await writeJournal(f.journalPath, journal);
  const sup = f.supervisor();
  assert.deepEqual(await sup.resumeFromJournal(), journal);
  assert.equal(existsSync(f.journalPath), false);
  assert.equal(await sup.resumeFromJournal(), undefined, 'nothing the second time');
  assert.equal(await f.askHttp(), o.pid);
  const outcome = await sup.performHandoff(f.successorSpec());
  assert.equal(outcome.status, 'committed');
  if (outcome.status === 'committed') f.adopt(outcome.child);
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

// Back-to-back handoffs: a successor takes over the control path only after its Ready is out, so right after
// a commit the path can still lead to the old incumbent, which closes it on Commit (here the successor
// waits 300 ms between the two, as a busy event loop might). The next handoff must still reach it.
test('a handoff right after a commit reaches the new incumbent while it is still taking over the control path', async (t) => {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent();
  const sup = f.supervisor();
  const first = await sup.performHandoff(f.successorSpec({ HANDOFF_BIND_DELAY_MS: '300' }));
  assert.equal(first.status, 'committed', first.status === 'aborted' ? first.reason : '');
  if (first.status !== 'committed') return;
  f.adopt(first.child);
  const second = await sup.performHandoff(f.successorSpec());
  assert.equal(second.status, 'committed', second.status === 'aborted' ? second.reason : '');
  if (second.status !== 'committed') return;
  f.adopt(second.child);
  assert.equal(
    second.report.incumbent.pid,
    first.child.pid,
    'the second handoff started from the first successor',
  );
  assert.deepEqual(await o.exited, { code: 0, signal: null });
});

test('with no incumbent on the control path, performHandoff fails with Io once the Hello budget is spent', async (t) => {
  const f = new HandoffFixture(t);
  const helloBudgetMs = 300;
  const sup = f.supervisor({ helloReadTimeoutMs: helloBudgetMs });
  // Giving up is a clock reading between connection attempts that no event marks, so this bounds it from
  // both sides without a tight upper bound that a busy machine could trip. Not before the budget: the time
  // taken is at least the budget (load cannot make a lower bound fail), so the first ENOENT was retried.
  // Not long after it: a retry that ignored this budget, or used the 5 s default instead, would still be
  // going when this guard interrupts it (13 times the budget, a second under the default), and the
  // handoff would then resolve 'aborted' (interrupted) instead of rejecting with Io.
  const guard = AbortSignal.timeout(HELLO_READ_TIMEOUT_MS - 1000);
  const started = Date.now();
  await assert.rejects(
    sup.performHandoff(f.successorSpec(), { signal: guard }),
    (error: unknown) => {
      assert.ok(isHandoffError(error, 'Io'), String(error));
      assert.equal(error.details.errno, 'ENOENT');
      return true;
    },
    'the retries went on until the guard interrupted them: the Hello budget was not enforced',
  );
  const elapsedMs = Date.now() - started;
  assert.ok(elapsedMs >= helloBudgetMs - 50, `retried for the budget: gave up after ${elapsedMs} ms`);
  assert.equal(sup.lastReport?.successor.pid, undefined, 'no successor was spawned');
});
