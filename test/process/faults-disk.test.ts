// Full and read-only filesystems under `handoff run` (real tmpfs mounts): a full data disk must not turn a
// rollback or a restart into an outage (the pidfile is advisory), and the diagnostic journal failing must
// never fail a handoff or make the supervisor lose the daemon it committed.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sendTrigger } from '../../src/cli/trigger.js';
import { processesWithEnv } from '../helpers/proc.js';
import { processAlive } from '../helpers/spawn-child.js';
import { askPid, fixtureDaemon, markerPids, startSupervised } from '../helpers/supervised.js';
import { fillFilesystem, remountReadOnly, tmpfs } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait-for.js';

test('a full data disk: a rollback after the seal leaves the old build serving, and a cold restart still works', async (t) => {
  const mount = tmpfs(t, 64);
  if (!mount) return;
  // The fixture's state file exists before the disk fills: its seal rewrites it in place (the truncate frees
  // the page the write then takes), so sealing works on the full disk; every new file (a pidfile) fails.
  const dataDir = join(mount, 'data');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'state.json'), JSON.stringify({ revision: '0' }));
  // Every successor hangs before Ready: the handoff rolls back after the old build sealed and released
  // the flock, so the old build must take it back on a disk where no pidfile can be written.
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_READY_DELAY_MS: '60000' }),
    dataDir,
    extraToml: ['ready_timeout_secs = 1', 'restart_backoff_ms = 50'],
  });
  const old = (await s.daemonPid())!;
  assert.ok(fillFilesystem(mount) > 0);

  const reply = await sendTrigger(s.trigger, 'handoff');
  assert.match(
    reply.result,
    /committed=false abort_reason=Some\(".*ready phase timed out/,
    s.supervisor.tail(),
  );
  assert.equal(await askPid(s.port), old, 'the old build serves on');
  await waitFor(() => markerPids(s.markers, 'resume-called').includes(old), {
    what: 'the old build to resume',
  });
  assert.equal(processAlive(old), true);
  assert.equal((await s.status())?.daemon?.controlSocketAnswers, true, 'the old build answers a handoff');

  process.kill(old, 'SIGKILL');
  const restarted = await waitFor(
    async () => {
      const pid = await askPid(s.port).catch(() => undefined);
      return pid !== undefined && pid !== old ? pid : undefined;
    },
    {
      what: 'a restarted daemon to serve with the disk still full',
      timeoutMs: 15_000,
      diagnostics: () => s.supervisor.tail(),
    },
  );
  assert.equal((await s.status())?.daemon?.pid, restarted);
});

test('a journal on a full filesystem: every handoff still commits', async (t) => {
  const mount = tmpfs(t, 64);
  if (!mount) return;
  fillFilesystem(mount);
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    extraToml: [`journal = "${join(mount, 'journal.bin')}"`],
  });
  for (let i = 0; i < 3; i++) {
    const reply = await sendTrigger(s.trigger, 'handoff');
    assert.match(reply.result, /committed=true/, `handoff ${i}: ${reply.result}\n${s.supervisor.tail()}`);
  }
  assert.equal((await s.status())?.handoffs.committed, 3);
});

test('a journal remounted read-only mid-handoff: the handoff commits, the supervisor follows the new daemon, SIGTERM leaves nothing', async (t) => {
  const mount = tmpfs(t, 256);
  if (!mount) return;
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_DRAIN_DELAY_MS: '500' }),
    extraToml: [`journal = "${join(mount, 'journal.bin')}"`],
  });
  const handoff = sendTrigger(s.trigger, 'handoff');
  // The journal has been written (Negotiating) by the time the old build drains; from now on every write
  // and the final delete fail with EROFS.
  await waitFor(() => markerPids(s.markers, 'drain-called').length === 1, { what: 'the drain to begin' });
  remountReadOnly(mount);
  const reply = await handoff;
  assert.match(reply.result, /committed=true/, `${reply.result}\n${s.supervisor.tail()}`);
  const successor = markerPids(s.markers, 'successor-ready')[0]!;
  assert.equal((await s.status())?.daemon?.pid, successor, 'the supervisor tracks the committed daemon');
  assert.equal(await askPid(s.port), successor);

  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());
  assert.deepEqual(processesWithEnv(`HANDOFF_SUPERVISED_TEST=${s.dir}`), [], 'no daemon of the run is left');
});
