// Stopping `handoff run` in every phase of a handoff, and signals at awkward moments: the supervisor always
// ends with no daemon of its own left running, within shutdown_grace_secs (a second signal ends the grace),
// and SIGHUP neither kills a starting supervisor nor starts a second handoff.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendTrigger } from '../../src/cli/trigger.js';
import { DataDirLock } from '../../src/lock.js';
import { listProcesses, processesWithEnv } from '../helpers/proc.js';
import { referenceTimer } from '../helpers/reference-timer.js';
import { processAlive } from '../helpers/spawn-child.js';
import {
  buildScript,
  catchesSignal,
  fixtureDaemon,
  markerPids,
  type Supervised,
  startSupervised,
} from '../helpers/supervised.js';
import { waitFor } from '../helpers/wait-for.js';

const SIGHUP = 1;
const GRACE_SECS = 5;

/** After the supervisor exited: nothing of the run is alive and the data-dir lock is free. */
async function assertNothingLeft(s: Supervised): Promise<void> {
  assert.deepEqual(processesWithEnv(`HANDOFF_SUPERVISED_TEST=${s.dir}`), [], 'no daemon of the run is left');
  const lock = await DataDirLock.acquire(s.data);
  lock.release();
}

/** SIGTERM once `phase` is reached; the supervisor must exit 0 within the grace (plus start-up slack). */
async function stopDuring(s: Supervised, phase: () => boolean, what: string): Promise<void> {
  const handoff = sendTrigger(s.trigger, 'handoff --stream').catch((error: unknown) => error);
  await waitFor(phase, { what, timeoutMs: 15_000, diagnostics: () => s.supervisor.tail() });
  process.kill(s.supervisor.pid, 'SIGTERM');
  const exit = await waitFor(
    () =>
      Promise.race([s.supervisor.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]),
    {
      what: `the supervisor to exit within shutdown_grace_secs = ${GRACE_SECS}`,
      timeoutMs: GRACE_SECS * 1000 + 5000,
      diagnostics: () => s.supervisor.tail(),
    },
  );
  assert.deepEqual(exit, { code: 0, signal: null }, s.supervisor.tail());
  await handoff;
  await assertNothingLeft(s);
}

test('SIGTERM while the new build starts: the supervisor exits 0 and no daemon is left', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    extraToml: [`shutdown_grace_secs = ${GRACE_SECS}`],
  });
  const slow = buildScript(s.dir, 'slow-start', { HANDOFF_START_DELAY_MS: '60000' });
  const handoff = sendTrigger(s.trigger, `handoff ${slow}`);
  await waitFor(async () => (await s.status())?.handoffs.inProgress, { what: 'the handoff to begin' });
  // The new build would take 60 s to say Hello; the stop must not wait for it. Half of that separates
  // "stopped within the grace" from "waited out the start-up" (which a SIGTERM landing while the successor
  // was being spawned once did), however slow the machine.
  const halfTheStartUp = referenceTimer(30_000);
  t.after(() => halfTheStartUp.cancel());
  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());
  assert.equal(halfTheStartUp.fired, false, 'the supervisor waited for the new build to start');
  assert.match((await handoff).result, /committed=false abort_reason=Some\(".*supervisor is stopping/);
  await assertNothingLeft(s);
});

test('SIGTERM while the old build drains: the supervisor exits 0 and no daemon is left', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_DRAIN_DELAY_MS: '30000' }),
    extraToml: [`shutdown_grace_secs = ${GRACE_SECS}`],
  });
  await stopDuring(s, () => markerPids(s.markers, 'drain-called').length > 0, 'the drain to begin');
});

test('SIGTERM after Begin, before Ready: the supervisor exits 0 and no daemon is left', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_READY_DELAY_MS: '60000' }),
    extraToml: [`shutdown_grace_secs = ${GRACE_SECS}`],
  });
  await stopDuring(s, () => markerPids(s.markers, 'successor-begin').length > 0, 'the successor to begin');
});

test('a second SIGTERM ends the grace: a daemon that ignores SIGTERM is killed at once', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_IGNORE_SIGTERM: '1' }),
    extraToml: ['shutdown_grace_secs = 600'],
  });
  process.kill(s.supervisor.pid, 'SIGTERM');
  await waitFor(() => markerPids(s.markers, 'sigterm-ignored').length > 0, {
    what: 'the daemon to ignore SIGTERM',
  });
  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());
  await s.supervisor.waitForOutput(/second stop signal: killing every daemon now/);
  await assertNothingLeft(s);
});

test('a SIGHUP while the supervisor starts is logged and ignored, not fatal', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_START_DELAY_MS: '1500' }),
    waitForDaemon: false,
  });
  // The moment the supervisor can catch SIGHUP, its daemon is still starting (it waits 1.5 s to start).
  await waitFor(() => catchesSignal(s.supervisor.pid, SIGHUP), { what: 'a SIGHUP handler', intervalMs: 1 });
  assert.deepEqual(markerPids(s.markers, 'serving'), [], 'caught before the daemon serves');
  process.kill(s.supervisor.pid, 'SIGHUP');
  await waitFor(() => markerPids(s.markers, 'serving').length === 1, {
    what: 'the daemon to serve',
    timeoutMs: 15_000,
    diagnostics: () => s.supervisor.tail(),
  });
  await s.supervisor.waitForOutput(/SIGHUP ignored: the supervisor is starting or stopping/);
  assert.equal((await s.status())?.handoffs.committed, 0);
});

test('a SIGHUP during a handoff is logged and ignored: one handoff, not two', async (t) => {
  const s = await startSupervised(t, fixtureDaemon({ HANDOFF_DRAIN_DELAY_MS: '1000' }));
  const handoff = sendTrigger(s.trigger, 'handoff');
  await waitFor(() => markerPids(s.markers, 'drain-called').length === 1, { what: 'the drain to begin' });
  process.kill(s.supervisor.pid, 'SIGHUP');
  assert.match((await handoff).result, /committed=true/);
  await s.supervisor.waitForOutput(/SIGHUP ignored: a handoff is in progress/);
  const status = await s.status();
  assert.deepEqual([status?.handoffs.committed, status?.handoffs.inProgress], [1, false]);
  assert.equal(markerPids(s.markers, 'drain-called').length, 1, 'no second handoff began');
});

test('under npm (npx handoff run), killing the launcher stops the supervisor and its daemon', async (t) => {
  // As npm exec runs a bin: through a shell that stays the supervisor's parent. npm killed by its pid kills
  // that shell, and nothing signals the supervisor itself: it must notice its parent's death.
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    launcher: ['sh', '-c', '"$@"; true', 'sh'],
    supervisorEnv: { npm_command: 'exec' },
  });
  const daemon = markerPids(s.markers, 'serving')[0]!;
  process.kill(s.supervisor.pid, 'SIGKILL'); // the shell, not its group: the supervisor is left to notice
  const supervisorAlive = () => listProcesses().some((p) => p.cmdline.includes(s.config) && p.state !== 'Z');
  await waitFor(() => !supervisorAlive() && !processAlive(daemon), {
    what: 'the supervisor and its daemon to stop',
    timeoutMs: 15_000,
  });
  await assertNothingLeft(s);
});
