// The incumbent serves several control sessions at once but one handoff at a time, and keeps its tenure
// whatever else fails (docs/protocol.md §5.2): the test plays the supervisors over the real Unix socket.

import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bindControlSocket } from '../../src/control-socket.js';
import { runDaemon } from '../../src/daemon.js';
import { isHandoffError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { FakeSupervisor } from '../helpers/fake-supervisor.js';
import { lockIsFree, startIncumbent } from '../helpers/incumbent-harness.js';
import { RecordingDrainable } from '../helpers/recording-drainable.js';
import { tempDir } from '../helpers/temp-dir.js';
import { fillInodes, tmpfs } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait-for.js';

test('a client that connects and heartbeats does not keep a supervisor out: another session hands off meanwhile', async (t) => {
  const h = await startIncumbent(t);
  const idle = await FakeSupervisor.connect(t, h.controlPath);
  await idle.sync();
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.prepareAndSeal();
  await idle.sync(); // the idle session is still served, heartbeat for heartbeat
  await sup.send({ type: 'Commit', handoffId: sup.handoffId });
  assert.equal(await h.serveError, undefined, 'serve resolved: committed');
  await idle.expectClosed();
});

test("a second session's PrepareHandoff during a handoff is refused, and the first handoff goes on to commit", async (t) => {
  const h = await startIncumbent(t);
  const first = await FakeSupervisor.connect(t, h.controlPath);
  await first.send({
    type: 'PrepareHandoff',
    handoffId: first.handoffId,
    successorPid: 1,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await first.expect('Drained');
  const second = await FakeSupervisor.connect(t, h.controlPath);
  await second.send({
    type: 'PrepareHandoff',
    handoffId: second.handoffId,
    successorPid: 2,
    deadlineMs: 5000n,
    drainGraceMs: 1000n,
  });
  await second.expectClosed();
  assert.equal(h.drainable.drainContexts.length, 1, 'the second session never drained');
  await first.send({ type: 'SealRequest', handoffId: first.handoffId });
  await first.expect('SealComplete');
  await first.send({ type: 'Commit', handoffId: first.handoffId });
  assert.equal(await h.serveError, undefined);
});

test('a control path that cannot be re-claimed after a rollback costs the next handoff, not the lock or service', async (t) => {
  const mount = tmpfs(t, 64, 16);
  if (!mount) return;
  const h = await startIncumbent(t, {}, {}, mount);
  const sup = await FakeSupervisor.connect(t, h.controlPath);
  await sup.prepareAndSeal();
  // As a successor does after Ready: its own socket renamed over the control path. Then the filesystem runs
  // out of inodes, so the old incumbent cannot bind a socket to take the path back after the rollback.
  const successorSocket = await bindControlSocket(join(mount, 'successor.sock'));
  t.after(() => successorSocket.close());
  renameSync(join(mount, 'successor.sock'), h.controlPath);
  assert.ok(fillInodes(mount) >= 0);
  await sup.send({ type: 'ResumeAfterAbort', handoffId: sup.handoffId });
  await waitFor(() => h.drainable.calls.filter((c) => c === 'resumeAfterAbort').length === 1, {
    what: 'the daemon to resume',
  });
  await sup.sync(); // the session goes on
  assert.equal(await lockIsFree(h.dataDir), false, 'the incumbent holds the data-dir lock again');
  assert.equal(h.incumbent.holdsLock, true);
  const settled = await Promise.race([h.serveError, new Promise((r) => setImmediate(() => r('pending')))]);
  assert.equal(settled, 'pending', 'serve goes on');
});

test('runDaemon: a start-up that fails after start() stops the app before the lock is released', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  let lockHeldDuringStop: boolean | undefined;
  const failed = await runDaemon({
    dataDir,
    // No control socket can be bound under a regular file.
    controlPath: join(dataDir, 'not-a-dir', 'control.sock'),
    exitProcess: false,
    handleSignals: false,
    env: {},
    logger: silentLogger,
    async start(context) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(context.dataDir, 'not-a-dir'), '');
      return {
        drainable: new RecordingDrainable(),
        stop: async () => {
          lockHeldDuringStop = !(await lockIsFree(dataDir));
        },
      };
    },
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(isHandoffError(failed, 'Io'), String(failed));
  assert.equal(lockHeldDuringStop, true, 'the app stopped while the lock was still held');
  assert.equal(await lockIsFree(dataDir), true, 'and the lock was released after');
});
