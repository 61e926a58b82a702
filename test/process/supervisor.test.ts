// The Supervisor around its handoffs (src/supervisor/supervisor.ts, SPEC §5.1), with real processes: one
// handoff at a time, the journal a crashed run left behind, and reaching the incumbent's control path
// (src/supervisor/control-client.ts) right after a commit and when nobody is there.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { newHandoffId } from '../../src/protocol/handoff-id.js';
import { writeJournal } from '../../src/supervisor/journal.js';
import { HELLO_READ_TIMEOUT_MS } from '../../src/timing.js';
import { HandoffFixture } from '../helpers/handoff-fixture.js';

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
