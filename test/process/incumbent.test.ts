// The incumbent against peers of another user (SPEC §5.2 [beyond]): a real child process running as
// uid 65534 is kept out by the socket's mode, and when the mode is opened up, by the peer-uid check.

import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Incumbent } from '../../src/incumbent.js';
import { DataDirLock } from '../../src/lock.js';
import { silentLogger } from '../../src/log.js';
import { FakeSupervisor } from '../helpers/fake-supervisor.js';
import { RecordingDrainable } from '../helpers/recording-drainable.js';
import { spawnChild } from '../helpers/spawn-child.js';
import { tempDir } from '../helpers/temp-dir.js';

// Connects, prints every byte it receives as hex, and prints how the connection ended.
const CLIENT = `
const socket = require('net').connect(process.argv[1]);
let got = '';
socket.on('data', (d) => { got += d.toString('hex'); });
socket.on('error', (e) => { console.log('error ' + e.code); });
socket.on('close', () => { console.log('closed bytes=' + got.length / 2); });
`;

test('a peer running as uid 65534 is refused: by the 0600 mode, and by the uid check when the mode is opened', async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const controlPath = join(dir, 'control.sock');
  const lock = await DataDirLock.acquire(join(dir, 'data'));
  t.after(() => lock.release());
  const incumbent = await Incumbent.bindColdStart(controlPath, lock, { logger: silentLogger });
  t.after(() => incumbent.close());
  const drainable = new RecordingDrainable();
  const served = incumbent.serve(drainable);
  const asNobody = { uid: 65534, gid: 65534, cwd: '/' };

  const blocked = spawnChild(t, process.execPath, ['-e', CLIENT, controlPath], asNobody);
  assert.deepEqual(await blocked.exited, { code: 0, signal: null }, blocked.tail());
  assert.match(blocked.output(), /error EACCES/);

  chmodSync(controlPath, 0o666); // someone loosened the mode: the uid check still holds
  const rejected = spawnChild(t, process.execPath, ['-e', CLIENT, controlPath], asNobody);
  assert.deepEqual(await rejected.exited, { code: 0, signal: null }, rejected.tail());
  assert.match(rejected.output(), /closed bytes=0/, 'closed before Hello: not one byte of protocol');

  // Our own uid is still served, and a full handoff works.
  const sup = await FakeSupervisor.connect(t, controlPath);
  await sup.prepareAndSeal();
  await sup.send({ type: 'Commit', handoffId: sup.handoffId });
  // Waited for, not only sent: a Commit still unread when the test's cleanup ends the session would leave
  // the incumbent sealed, and its recovery would re-create the removed data dir to take the flock back.
  assert.equal(await served, 'committed');
  assert.deepEqual(drainable.calls, ['drain', 'seal']);
});
