// `handoff run` the way systemd runs it: socket activation through the real systemd-socket-activate (the
// listener passed by name; the first client, whose connection started it all, is served), and sd_notify
// to a NOTIFY_SOCKET receiver that records every message and the fds sent with FDSTORE=1.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../scripts/soak/service.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { processEnv } from '../helpers/proc.js';
import { type Child, spawnChild } from '../helpers/spawn-child.js';
import { askPid, fixtureDaemon, markerPids, startSupervised } from '../helpers/supervised.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const RECEIVER = fileURLToPath(new URL('./fixtures/notify-receiver.py', import.meta.url));

interface Notification {
  message: string;
  fds: Array<{ address: unknown; listening: boolean }>;
}

/** Every message the receiver recorded, once STOPPING=1 (the last one) has arrived. */
function notifications(receiver: Child): Promise<Notification[]> {
  return waitFor(
    () => {
      const lines = receiver
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{"message"'))
        .map((line) => JSON.parse(line) as Notification);
      return lines.some((n) => n.message.startsWith('STOPPING=1')) ? lines : undefined;
    },
    { what: 'STOPPING=1 to reach the receiver', diagnostics: () => receiver.tail() },
  );
}

test('sd_notify: FDSTORE for each listener, READY, RELOADING and READY around a handoff and a rollback, STOPPING', async (t) => {
  const socket = join(tempDir(t), 'notify.sock');
  const receiver = spawnChild(t, 'python3', [RECEIVER, socket]);
  await receiver.waitForOutput(/"ready": true/);
  const s = await startSupervised(t, { ...fixtureDaemon(), supervisorEnv: { NOTIFY_SOCKET: socket } });
  const first = markerPids(s.markers, 'serving')[0]!;
  assert.equal(processEnv(first).NOTIFY_SOCKET, undefined, 'the daemon does not get NOTIFY_SOCKET');
  assert.match((await sendTrigger(s.trigger, 'handoff')).result, /committed=true/);
  assert.match((await sendTrigger(s.trigger, 'handoff /bin/false')).result, /committed=false/);
  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());

  const notes = await notifications(receiver);
  const kinds = notes.map((n) => n.message.split('\n')[0]);
  assert.deepEqual(kinds, [
    'FDSTORE=1',
    'READY=1',
    'RELOADING=1',
    'READY=1',
    'RELOADING=1',
    'READY=1',
    'STOPPING=1',
  ]);
  const stored = notes[0]!;
  assert.match(stored.message, /^FDSTORE=1\nFDNAME=http$/);
  assert.deepEqual(stored.fds, [{ address: ['127.0.0.1', s.port], listening: true }]);
  assert.match(notes[1]!.message, new RegExp(`^READY=1\nSTATUS=serving: daemon pid ${first}$`));
  assert.match(notes[2]!.message, /^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=handoff to /);
  const second = markerPids(s.markers, 'serving')[1]!;
  assert.match(notes[3]!.message, new RegExp(`STATUS=serving: daemon pid ${second}$`));
  assert.match(
    notes[5]!.message,
    new RegExp(`STATUS=serving: daemon pid ${second}$`),
    'still the same after the rollback',
  );
});

test('a handoff asked for while the supervisor still starts waits for READY=1, then runs', async (t) => {
  const socket = join(tempDir(t), 'notify.sock');
  const receiver = spawnChild(t, 'python3', [RECEIVER, socket]);
  await receiver.waitForOutput(/"ready": true/);
  // The daemon takes 1.5 s to start; the trigger socket is up long before that.
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_START_DELAY_MS: '1500' }),
    supervisorEnv: { NOTIFY_SOCKET: socket },
    waitForDaemon: false,
  });
  await waitFor(() => existsSync(s.trigger), {
    what: 'the trigger socket',
    diagnostics: () => s.supervisor.tail(),
  });
  const early = sendTrigger(s.trigger, 'handoff');
  assert.equal(markerPids(s.markers, 'serving').length, 0, 'asked before the first daemon served');
  assert.match((await early).result, /committed=true/, s.supervisor.tail());
  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());
  const kinds = (await notifications(receiver)).map((n) => n.message.split('\n')[0]);
  assert.deepEqual(kinds, ['FDSTORE=1', 'READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
});

test('socket activation: systemd-socket-activate passes the listener by name; the client that started it all is served', async (t) => {
  if (spawnSync('systemd-socket-activate', ['--version']).status !== 0) {
    t.skip("systemd-socket-activate is not installed (Debian's systemd package)");
    return;
  }
  const port = await freePort();
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    launcher: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--fdname=http'],
    listenAddr: `127.0.0.1:${port}`,
    waitForDaemon: false,
  });
  // systemd-socket-activate says when it has bound the port; a connection before that would be refused.
  await s.supervisor.waitForOutput(new RegExp(`Listening on 127\\.0\\.0\\.1:${port}`), 30_000);
  // Nothing runs until a client connects: this connection makes systemd-socket-activate start the supervisor,
  // and waits in the listener's queue until the daemon accepts it.
  const pid = await askPid(port, 30_000);
  assert.deepEqual(markerPids(s.markers, 'serving'), [pid]);
  assert.deepEqual((await s.status())?.listeners, [
    { name: 'http', addr: `127.0.0.1:${port}`, source: 'systemd' },
  ]);
  assert.match((await sendTrigger(s.trigger, 'handoff')).result, /committed=true/);
  assert.equal(await askPid(port), markerPids(s.markers, 'serving')[1]);
});
