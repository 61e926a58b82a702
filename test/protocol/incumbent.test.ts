// The incumbent's control-socket server (SPEC §5.2), with the test playing the supervisor over the real
// Unix socket and a recording Drainable standing in for the daemon. Timing constants are shortened through
// options so that every case runs in well under a second.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bindControlSocket } from '../../src/control-socket.js';
import { handoffAbandoned } from '../../src/drainable.js';
import { isHandoffError } from '../../src/errors.js';
import { HandoffEvent } from '../../src/events.js';
import { Incumbent } from '../../src/incumbent.js';
import { DataDirLock } from '../../src/lock.js';
import { newHandoffId } from '../../src/protocol/handoff-id.js';
import type { Message } from '../../src/protocol/messages.js';
import { FakeSupervisor } from '../helpers/fake-supervisor.js';
import { FAST, lockIsFree, startIncumbent } from '../helpers/incumbent-harness.js';
import { referenceTimer } from '../helpers/reference-timer.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

test('happy path: Hello → Prepare → Drained → Seal → SealComplete → Commit resolves serve, resume never called', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  assert.equal(sup.hello.role, 'Incumbent');
  assert.equal(sup.hello.pid, process.pid);
  assert.equal(Buffer.from(sup.hello.buildId).toString(), 'incumbent-test');
  assert.deepEqual([sup.hello.protoMin, sup.hello.protoMax, sup.hello.capabilities], [1, 1, 0n]);
  assert.equal(await lockIsFree(h.dataDir), false);

  const prepareSentAt = Date.now();
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  assert.deepEqual(await sup.expect('Drained'), {
    type: 'Drained',
    openConnsRemaining: 0,
    acceptClosed: true,
  });
  const drainedAt = Date.now();
  // The incumbent read the clock between our two readings, so its "now" is bracketed by them.
  const { deadline } = h.drainable.drainContexts[0]!;
  assert.ok(
    deadline >= prepareSentAt + 1000 && deadline <= drainedAt + 1000,
    `drain deadline = now + min(grace, deadline): ${deadline - prepareSentAt} ms after PrepareHandoff ` +
      `went out, ${deadline - drainedAt} ms after Drained came back`,
  );

  await sup.send({ type: 'SealRequest', handoffId: sup.handoffId });
  const sealed = await sup.expect('SealComplete');
  assert.deepEqual(sealed.lastRevisionPerShard, [42n]);
  assert.deepEqual(sealed.dataDirFingerprint, h.drainable.fingerprint);
  // SealComplete means the flock is already released: the successor (here, the test) can take it.
  const successorLock = await DataDirLock.acquire(h.dataDir);
  t.after(() => successorLock.release());

  await sup.send({ type: 'Commit', handoffId: sup.handoffId });
  assert.equal(await h.served, 'committed');
  assert.deepEqual(h.drainable.calls, ['drain', 'seal']);
});

for (const kind of ['ResumeAfterAbort', 'Abort'] as const) {
  test(`${kind} after seal re-takes the flock, resumes exactly once, and a new handoff drains again`, async (t) => {
    const h = await startIncumbent(t);
    const sup = await FakeSupervisor.connect(t, h.controlPath);
    await sup.prepareAndSeal();
    assert.equal(await lockIsFree(h.dataDir), true);
    const rollback: Message =
      kind === 'Abort'
        ? { type: 'Abort', handoffId: sup.handoffId, reason: 'successor failed (test)' }
        : { type: 'ResumeAfterAbort', handoffId: sup.handoffId };
    await sup.send(rollback);
    await sup.sync();
    assert.equal(h.drainable.count('resumeAfterAbort'), 1);
    assert.equal(await lockIsFree(h.dataDir), false, 'the incumbent holds the flock again');
    assert.equal(h.incumbent.holdsLock, true);

    const second = newHandoffId();
    await sup.prepareAndSeal(second);
    assert.deepEqual(h.drainable.calls, ['drain', 'seal', 'resumeAfterAbort', 'drain', 'seal']);
    await sup.send({ type: 'Commit', handoffId: second });
    assert.equal(await h.served, 'committed');
  });
}

test('Abort after drain only resumes without touching the lock', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expect('Drained');
  await sup.send({ type: 'Abort', handoffId: sup.handoffId, reason: 'changed my mind' });
  await sup.sync();
  assert.deepEqual(h.drainable.calls, ['drain', 'resumeAfterAbort']);
  assert.equal(await lockIsFree(h.dataDir), false);
});

test('a failed seal sends SealFailed with the error and id, keeps the flock, and a later handoff seals', async (t) => {
  const h = await startIncumbent(t, { sealFailures: 1 });
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expect('Drained');
  await sup.send({ type: 'SealRequest', handoffId: sup.handoffId });
  assert.deepEqual(await sup.expect('SealFailed'), {
    type: 'SealFailed',
    handoffId: sup.handoffId,
    error: 'disk full (test)',
    partialState: '',
  });
  await sup.sync();
  assert.equal(await lockIsFree(h.dataDir), false, 'the incumbent never released the flock');
  assert.deepEqual(h.drainable.calls, ['drain', 'seal', 'resumeAfterAbort']);

  const retry = newHandoffId();
  await sup.prepareAndSeal(retry);
  await sup.send({ type: 'Commit', handoffId: retry });
  assert.equal(await h.served, 'committed');
});

test('PrepareHandoff for another id while one is active closes the session; the next connection gets Hello', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expect('Drained');
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: newHandoffId(),
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expectClosed();
  const next = await FakeSupervisor.connect(t, h.controlPath);
  assert.equal(next.hello.role, 'Incumbent');
  // The drained session's cleanup resumed the daemon once.
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, {
    what: 'resume after the aborted session',
  });
  await next.prepareAndSeal();
  await next.send({ type: 'Commit', handoffId: next.handoffId });
  assert.equal(await h.served, 'committed');
});

test('supervisor disconnect after seal: the flock is re-taken, resume runs once, serving continues', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.prepareAndSeal();
  assert.equal(h.drainable.count('resumeAfterAbort'), 0, 'no resume while the session lives');
  sup.close();
  // The disconnect, not the session's deadline, caused the resume: prepareAndSeal gives the handoff 60 s,
  // and a timer never fires early, so a resume seen within half of that came from the close.
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, {
    what: 'resume after disconnect',
    timeoutMs: 30_000,
  });
  assert.equal(await lockIsFree(h.dataDir), false);
  const next = await FakeSupervisor.connect(t, h.controlPath);
  await next.sync();
  assert.equal(h.drainable.count('resumeAfterAbort'), 1);
});

test("a drain's signal says whether the supervisor left (abandoned: keep connections) or the deadline passed", async (t) => {
  const h = await startIncumbent(t, { drainUntilAborted: true });
  const prepare = (sup: FakeSupervisor, drainGraceMs: bigint) =>
    sup.send({
      type: 'PrepareHandoff',
      handoffId: sup.handoffId,
      successorPid: 1,
      deadlineMs: 60_000n,
      drainGraceMs,
    });
  const left = await FakeSupervisor.connect(t, h.controlPath);
  await prepare(left, 60_000n);
  await waitFor(() => h.drainable.count('drain') === 1, { what: 'the drain to start' });
  left.close();
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, {
    what: 'resume after the supervisor left',
  });
  const abandoned = h.drainable.drainContexts[0]!.signal;
  assert.equal(handoffAbandoned(abandoned), true, String(abandoned.reason));

  const patient = await FakeSupervisor.connect(t, h.controlPath);
  await prepare(patient, 200n);
  await patient.expect('Drained');
  const timedOut = h.drainable.drainContexts[1]!.signal;
  assert.equal(timedOut.aborted, true, 'aborted at the drain deadline');
  assert.equal(handoffAbandoned(timedOut), false);
});

test('supervisor disconnect after drain only: resume runs once', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expect('Drained');
  sup.close();
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, { what: 'resume after disconnect' });
  const next = await FakeSupervisor.connect(t, h.controlPath);
  await next.sync();
  assert.deepEqual(h.drainable.calls, ['drain', 'resumeAfterAbort']);
});

test('disconnect after seal while another holder keeps the flock past the retry window: serve rejects LockHeld', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.prepareAndSeal();
  const successorLock = await DataDirLock.acquire(h.dataDir);
  t.after(() => successorLock.release());
  sup.close();
  const error = await h.serveError;
  assert.ok(isHandoffError(error, 'LockHeld'), String(error));
  assert.equal(error.details.holderPid, process.pid);
  assert.equal(h.drainable.count('resumeAfterAbort'), 0, 'never resumed without the lock');
});

test('a supervisor silent after Drained is given up on at deadline + 2 × slack, and the daemon resumes', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 300n,
    drainGraceMs: 300n,
  });
  await sup.expect('Drained');
  const started = Date.now();
  // Given up on at deadline + 2 × slack (500 ms), not later: the daemon resumes before a timer of deadline
  // + 3 × slack, started now, fires. Its own wait began before Drained reached us and is the shorter of the
  // two, so this order does not depend on how busy the machine is (reference-timer.ts).
  const reference = referenceTimer(300 + 3 * 100);
  t.after(() => reference.cancel());
  const first = await Promise.race([
    once(h.incumbent.events, HandoffEvent.RESUME).then(() => 'the resume'),
    reference.expired.then(() => 'the reference timer'),
  ]);
  const waited = Date.now() - started;
  assert.equal(first, 'the resume', 'the daemon resumed before deadline + 3 × slack');
  assert.ok(waited >= 450, `waited ${waited} ms for deadline 300 + 2 × slack 100`);
  await sup.expectClosed();
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, { what: 'resume after the timeout' });
});

test('a supervisor silent after HelloAck is dropped after the liveness timeout; the next session works', async (t) => {
  const h = await startIncumbent(t, {}, { livenessTimeoutMs: 200 });
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.expectClosed(2000);
  const next = await FakeSupervisor.connect(t, h.controlPath);
  await next.sync();
  assert.deepEqual(h.drainable.calls, []);
});

test('Commit before SealComplete ends the session; the drained daemon resumes and the next session works', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expect('Drained');
  await sup.send({ type: 'Commit', handoffId: sup.handoffId });
  await sup.expectClosed();
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, { what: 'drained cleanup' });
  const next = await FakeSupervisor.connect(t, h.controlPath);
  await next.sync();
});

const wrongIdCases: Array<[string, (id: string) => Message]> = [
  ['SealRequest', (id) => ({ type: 'SealRequest', handoffId: id })],
  ['Commit', (id) => ({ type: 'Commit', handoffId: id })],
  ['ResumeAfterAbort', (id) => ({ type: 'ResumeAfterAbort', handoffId: id })],
  ['Abort', (id) => ({ type: 'Abort', handoffId: id, reason: 'x' })],
];
for (const [name, make] of wrongIdCases) {
  test(`${name} with a wrong id after seal ends the session; the flock is re-taken and serving continues`, async (t) => {
    const h = await startIncumbent(t);
    const sup = await FakeSupervisor.connect(t, h.controlPath);
    await sup.prepareAndSeal();
    await sup.send(make(newHandoffId()));
    await sup.expectClosed();
    await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, {
      what: 'recovery after the violation',
    });
    assert.equal(await lockIsFree(h.dataDir), false);
    const next = await FakeSupervisor.connect(t, h.controlPath);
    await next.sync();
  });
}

const ID = '00112233-4455-6677-8899-aabbccddeeff';
const wrongDirection: Message[] = [
  {
    type: 'Hello',
    role: 'Incumbent',
    pid: 1,
    buildId: new Uint8Array(),
    protoMin: 1,
    protoMax: 1,
    capabilities: 0n,
  },
  { type: 'HelloAck', protoVersionChosen: 1, handoffId: ID },
  { type: 'Drained', openConnsRemaining: 0, acceptClosed: true },
  { type: 'SealComplete', handoffId: ID, lastRevisionPerShard: [], dataDirFingerprint: new Uint8Array(32) },
  { type: 'SealFailed', handoffId: ID, error: 'x', partialState: '' },
  { type: 'SealProgress', shardsSealed: 0, shardsTotal: 1, lastRevision: 0n },
  { type: 'Begin', handoffId: ID },
  { type: 'Ready', handoffId: ID, listeningOn: [], healthzOk: true, advertisedRevisionPerShard: [] },
];
for (const message of wrongDirection) {
  test(`${message.type} sent to the incumbent ends the session and the next session works`, async (t) => {
    const h = await startIncumbent(t);
    const sup = await FakeSupervisor.connect(t, h.controlPath);
    await sup.sync();
    await sup.send(message);
    await sup.expectClosed();
    const next = await FakeSupervisor.connect(t, h.controlPath);
    await next.prepareAndSeal();
    await next.send({ type: 'Commit', handoffId: next.handoffId });
    assert.equal(await h.served, 'committed');
  });
}

test('heartbeats are echoed before and between steps without disturbing the handoff', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.sync();
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expect('Drained');
  await sup.sync();
  await sup.send({ type: 'SealRequest', handoffId: sup.handoffId });
  await sup.expect('SealComplete');
  await sup.sync();
  await sup.send({ type: 'Commit', handoffId: sup.handoffId });
  assert.equal(await h.served, 'committed');
});

test('a drain and a seal slower than the liveness timeout complete, carried by heartbeats', async (t) => {
  // Liveness on the test's side is 150 ms per read; each hook takes 500 ms; heartbeats come every 50 ms.
  const h = await startIncumbent(t, { drainDelayMs: 500, sealDelayMs: 500 });
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 2000n,
  });
  await sup.expect('Drained', 150);
  const duringDrain = sup.heartbeats.length;
  assert.ok(duringDrain >= 5, `saw ${duringDrain} heartbeats during a 500 ms drain`);
  await sup.send({ type: 'SealRequest', handoffId: sup.handoffId });
  await sup.expect('SealComplete', 150);
  assert.ok(sup.heartbeats.length - duringDrain >= 5, 'heartbeats during the seal');
  await sup.send({ type: 'Commit', handoffId: sup.handoffId });
  assert.equal(await h.served, 'committed');
});

test('a drain that throws leads to resumeAfterAbort, and the incumbent keeps serving', async (t) => {
  const h = await startIncumbent(t, { drainFailures: 1 });
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.send({
    type: 'PrepareHandoff',
    handoffId: sup.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await sup.expectClosed();
  await waitFor(() => h.drainable.count('resumeAfterAbort') === 1, { what: 'resume after a failed drain' });
  assert.equal(await lockIsFree(h.dataDir), false);
  const next = await FakeSupervisor.connect(t, h.controlPath);
  await next.prepareAndSeal();
  await next.send({ type: 'Commit', handoffId: next.handoffId });
  assert.equal(await h.served, 'committed');
  assert.deepEqual(h.drainable.calls, ['drain', 'resumeAfterAbort', 'drain', 'seal']);
});

test('a peer that connects and says nothing is dropped after the HelloAck timeout; the next session works', async (t) => {
  const h = await startIncumbent(t);
  const silent = await FakeSupervisor.connect(t, h.controlPath, { ack: false });
  const started = Date.now();
  await silent.expectClosed(2000);
  assert.ok(Date.now() - started >= 250);
  const next = await FakeSupervisor.connect(t, h.controlPath);
  await next.sync();
});

test('the control socket is mode 0600 and an overlong path fails with SocketPathTooLong', async (t) => {
  const h = await startIncumbent(t);
  assert.equal(statSync(h.controlPath).mode & 0o777, 0o600);
  const lock = await DataDirLock.acquire(join(tempDir(t), 'other'));
  t.after(() => lock.release());
  const longPath = join(tempDir(t), `${'x'.repeat(120)}.sock`);
  await assert.rejects(
    Incumbent.bindColdStart(longPath, lock, FAST),
    (e: unknown) => isHandoffError(e, 'SocketPathTooLong') && e.message.includes(longPath),
  );
});

test('options are validated when the incumbent is bound', async (t) => {
  const lock = await DataDirLock.acquire(join(tempDir(t), 'data'));
  t.after(() => lock.release());
  await assert.rejects(
    Incumbent.bindColdStart(join(tempDir(t), 'c.sock'), lock, { livenessTimeoutMs: -1 }),
    (e: unknown) =>
      isHandoffError(e, 'InvalidOption') &&
      e.message === 'livenessTimeoutMs must be a positive integer, got -1 (number)',
  );
});

const hostileBytes: Array<[string, Buffer]> = [
  ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
  ['an oversize length', Buffer.from([0xff, 0xff, 0xff, 0x7f, 0x01, 0x00])],
  ['a truncated frame', Buffer.from([0x14, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x10])],
];
for (const [what, bytes] of hostileBytes) {
  test(`${what} after Hello end only that session`, async (t) => {
    const h = await startIncumbent(t);
    const sup = await FakeSupervisor.connect(t, h.controlPath, { ack: false });
    sup.socket.end(bytes);
    await sup.expectClosed(2000);
    const next = await FakeSupervisor.connect(t, h.controlPath);
    await next.prepareAndSeal();
    await next.send({ type: 'Commit', handoffId: next.handoffId });
    assert.equal(await h.served, 'committed');
  });
}

test('a rollback after a successor bound the control path re-claims the path for the incumbent', async (t) => {
  const h = await startIncumbent(t);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.prepareAndSeal();
  // What a successor does right after Ready: its own socket renamed over the path. Then it "dies".
  const successorServer = await bindControlSocket(h.controlPath);
  successorServer.close();
  await sup.send({ type: 'ResumeAfterAbort', handoffId: sup.handoffId });
  await sup.sync();
  const next = await FakeSupervisor.connect(t, h.controlPath);
  assert.equal(Buffer.from(next.hello.buildId).toString(), 'incumbent-test');
  assert.equal(statSync(h.controlPath).mode & 0o777, 0o600);
  await next.prepareAndSeal();
  await next.send({ type: 'Commit', handoffId: next.handoffId });
  assert.equal(await h.served, 'committed');
});
