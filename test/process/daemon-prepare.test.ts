// runDaemon's prepare with real processes: a successor whose prepare throws or hangs is rolled back before
// the incumbent was asked for anything (it never drains; a client keeps being served by it throughout), a
// successor that hangs after Begin is rolled back by the ready budget, and a good prepare reaches start.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PIDFILE_NAME } from '../../src/lock.js';
import type { HandoffSpec } from '../../src/supervisor/options.js';
import { HandoffFixture } from '../helpers/handoff-fixture.js';
import { processAlive } from '../helpers/spawn-child.js';
import { waitFor } from '../helpers/wait-for.js';

const PREPARE_DAEMON = fileURLToPath(new URL('./fixtures/prepare-daemon.ts', import.meta.url));
/**
 * The start budget of the hung-prepare case: it must outlast the successor's tsx start-up (measured up to
 * ~3 s on this project's 2-core machine under a load average of 12), so that the hang is in prepare.
 */
const START_BUDGET_MS = 6000;

/** What each request of the client loop got: the pid that answered, or the error. */
type Answer = { readonly pid: number } | { readonly error: string };

/**
 * A client that opens a new connection per request, one after another, until stopped: each connection
 * is accepted only while some instance accepts, so it sees any gap in accepting as a slow or failed request.
 */
function clientLoop(t: TestContext, port: number) {
  const answers: Answer[] = [];
  let running = true;
  const loop = (async () => {
    while (running) answers.push(await ask(port));
  })();
  const stop = async () => {
    running = false;
    await loop;
    return answers;
  };
  t.after(stop);
  return { answers, stop };
}

/** One GET over a new connection: the pid that answered, or the error. */
function ask(port: number): Promise<Answer> {
  return new Promise<Answer>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ pid: Number(body.trim()) }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (error) => resolve({ error: error.message }));
  });
}

function successorSpec(f: HandoffFixture, env: Record<string, string>, spec: Partial<HandoffSpec> = {}) {
  return f.successorSpec(env, { args: ['--import', 'tsx', PREPARE_DAEMON], ...spec });
}

/** Starts the incumbent, and a client that is being served by it. */
async function serving(t: TestContext) {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent({}, PREPARE_DAEMON);
  const client = clientLoop(t, f.listener.port);
  await waitFor(() => client.answers.length >= 3, { what: 'the client to be served' });
  return { f, o, client };
}

/** The incumbent was never asked to drain, and every request during the handoff was answered by it. */
async function assertUntouched(f: HandoffFixture, oPid: number, client: ReturnType<typeof clientLoop>) {
  const before = client.answers.length;
  await waitFor(() => client.answers.length >= before + 3, { what: 'requests after the rollback' });
  const answers = await client.stop();
  assert.deepEqual(
    answers.filter((a) => !('pid' in a) || a.pid !== oPid),
    [],
    'a request that the incumbent did not answer',
  );
  assert.deepEqual(f.markerPids('drain-called'), [], 'the incumbent drained');
  assert.deepEqual(f.markerPids('seal-called'), []);
  assert.deepEqual(f.flockHolders(), [oPid]);
}

test('a successor whose prepare throws is rolled back with its own error; the incumbent never drains', async (t) => {
  const { f, o, client } = await serving(t);
  const outcome = await f.supervisor().performHandoff(successorSpec(f, { HANDOFF_PREPARE: 'throw' }));
  assert.equal(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  assert.match(outcome.reason, /^successor failed before its handshake: /);
  assert.match(outcome.reason, /exited with code 1/);
  assert.match(outcome.reason, /prepare failed on purpose/, 'its last words name its own error');
  const [nPid] = f.markerPids('prepare-successor');
  assert.equal(nPid, outcome.report.successor.pid);
  assert.equal(outcome.report.phases.drainMs, undefined);
  assert.deepEqual(f.markerPids('start-successor'), []);
  await assertUntouched(f, o.pid, client);
});

test('a successor whose prepare hangs is killed after the start budget; the incumbent never drains', async (t) => {
  const { f, o, client } = await serving(t);
  const outcome = await f
    .supervisor()
    .performHandoff(successorSpec(f, { HANDOFF_PREPARE: 'hang' }, { startTimeoutMs: START_BUDGET_MS }));
  assert.equal(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  assert.match(outcome.reason, /^successor failed before its handshake: .*peer Hello/);
  const nPid = outcome.report.successor.pid!;
  assert.deepEqual(f.markerPids('prepare-successor'), [nPid]);
  assert.equal(processAlive(nPid), false, 'the hung successor was killed');
  await assertUntouched(f, o.pid, client);
});

test('a successor that hangs after Begin is rolled back, and the incumbent resumes within ready_timeout + 1 s', async (t) => {
  const { f, o, client } = await serving(t);
  const readyTimeoutMs = 2000;
  // The supervisor's read of Ready ends at readyTimeoutMs + wireSlackMs (200 here); the rest of the second
  // is for the ResumeAfterAbort to reach the incumbent and for it to re-take the flock and listen again.
  const outcome = await f
    .supervisor({ wireSlackMs: 200 })
    .performHandoff(successorSpec(f, { HANDOFF_START: 'hang' }, { readyTimeoutMs, deadlineMs: 30_000 }));
  assert.equal(outcome.status, 'aborted');
  if (outcome.status !== 'aborted') return;
  assert.equal(outcome.reason, 'ready phase timed out waiting for Ready');
  const [[, begunAt] = [0, Number.NaN]] = f.markerLines('start-successor');
  // The supervisor returns once ResumeAfterAbort is sent; the incumbent resumes on receiving it.
  const [resumedBy, resumedAt] = await waitFor(() => f.markerLines('resume-called')[0], {
    what: 'the incumbent to resume',
  });
  assert.equal(resumedBy, o.pid);
  const stoppedMs = resumedAt - begunAt;
  t.diagnostic(`the incumbent resumed ${stoppedMs} ms after the successor began`);
  assert.ok(
    stoppedMs >= readyTimeoutMs && stoppedMs <= readyTimeoutMs + 1000,
    `the incumbent resumed ${stoppedMs} ms after the successor began, not within ${readyTimeoutMs} + 1000 ms`,
  );
  assert.deepEqual(await ask(f.listener.port), { pid: o.pid });
  await client.stop();
  assert.deepEqual(f.flockHolders(), [o.pid]);
});

test('a cold start prepares with the lock held, and a good prepare reaches start in a committed handoff', async (t) => {
  const f = new HandoffFixture(t);
  const o = await f.startIncumbent({}, PREPARE_DAEMON);
  assert.deepEqual(f.markerPids('prepare-coldStart'), [o.pid]);
  assert.deepEqual(f.markerPids('prepare-lock-held'), [o.pid]);
  assert.deepEqual(f.markerPids('start-got-prepared'), [o.pid]);
  const outcome = await f.supervisor().performHandoff(successorSpec(f, {}));
  assert.equal(outcome.status, 'committed', outcome.status === 'aborted' ? outcome.reason : '');
  if (outcome.status !== 'committed') return;
  f.adopt(outcome.child);
  const nPid = outcome.child.pid!;
  assert.deepEqual(f.markerPids('start-got-prepared'), [o.pid, nPid]);
  assert.deepEqual(f.markerPids('prepare-lock-held'), [o.pid], "the successor's prepare had no lock");
  // The successor writes its pidfile beside start and awaits it before Ready: a commit means it names it.
  assert.equal(readFileSync(join(f.dataDir, PIDFILE_NAME), 'utf8'), `${nPid}\n`);
  // The successor prepared before the incumbent was asked to drain.
  const [[, preparedAt] = [0, Number.NaN]] = f.markerLines('prepare-successor');
  const [[, drainedAt] = [0, Number.NaN]] = f.markerLines('drain-called');
  assert.ok(preparedAt <= drainedAt, `prepared at ${preparedAt}, drain began at ${drainedAt}`);
  await waitFor(() => !processAlive(o.pid), { what: 'the old build to exit' });
  assert.deepEqual(await ask(f.listener.port), { pid: nPid });
});
