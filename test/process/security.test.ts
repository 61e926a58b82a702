// A local attacker against `handoff run` and the library, for real: another user (uid 65534 through
// setpriv), symlinks planted where we write, loose directory modes, a control socket served by someone
// else. Each attack must fail with an error that names the path, and leave its victim untouched.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { ConfigError, loadConfigFile } from '../../src/cli/config.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { isHandoffError } from '../../src/errors.js';
import { DataDirLock, PIDFILE_NAME } from '../../src/lock.js';
import { silentLogger } from '../../src/log.js';
import { newHandoffId } from '../../src/protocol/handoff-id.js';
import { readJournal, writeJournal } from '../../src/supervisor/journal.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { spawnChild } from '../helpers/spawn-child.js';
import { fixtureDaemon, startSupervised } from '../helpers/supervised.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const NOBODY = 65534;

/** Whether this process can act as another user (root with setpriv); else the test is skipped. */
function canSwitchUser(t: TestContext): boolean {
  const ok = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  if (!ok) t.skip('needs root and setpriv to run code as uid 65534');
  return ok;
}

/** Runs `node -e script` as uid 65534 and returns its stdout. */
function asNobody(script: string, ...args: string[]): string {
  return execFileSync(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', script, ...args],
    { encoding: 'utf8', timeout: 20_000 },
  );
}

test("a data dir of another user's, or one anybody may write, is refused naming its owner, mode and the fix", async (t) => {
  const dir = tempDir(t);
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs);
  chownSync(theirs, NOBODY, NOBODY);
  chmodSync(theirs, 0o777);
  await assert.rejects(DataDirLock.acquire(theirs), (error) => {
    assert.ok(isHandoffError(error, 'UnsafePath'), String(error));
    assert.equal(error.details.path, theirs);
    assert.match(error.message, new RegExp(`${theirs} belongs to uid 65534 \\(mode 0777\\)`));
    return true;
  });
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  await assert.rejects(DataDirLock.acquire(open), /writable by others; chmod 0700 .*open/);
  // A private data dir inside a directory anybody may write can be swapped wholesale: refused too.
  const inside = join(open, 'data');
  await assert.rejects(DataDirLock.acquire(inside), (error) => {
    assert.ok(isHandoffError(error, 'UnsafePath'));
    assert.equal(error.details.path, open);
    return true;
  });
  assert.equal(existsSync(join(theirs, '.handoff.lock')), false, 'nothing was created in a refused dir');
});

test('a symlink at the lock path is refused, and what it points at is neither created nor locked', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const target = join(dir, 'victim.lock');
  symlinkSync(target, join(data, '.handoff.lock'));
  await assert.rejects(
    DataDirLock.acquire(data),
    /cannot open lock file .*\.handoff\.lock \(it is a symlink; remove it\)/,
  );
  assert.equal(existsSync(target), false);
});

test('the pidfile and the journal go through fresh temp files: symlinks at the old fixed temp names are ignored', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  symlinkSync(victim, join(data, `${PIDFILE_NAME}.tmp`));
  symlinkSync(victim, join(dir, 'journal.bin.tmp'));
  const lock = await DataDirLock.acquire(data);
  t.after(() => lock.release());
  const journal = join(dir, 'journal.bin');
  await writeJournal(journal, {
    handoffId: newHandoffId(),
    phase: 'Draining',
    incumbentPid: 1,
    successorPid: 2,
    startedAtUnixMs: 0n,
  });
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  assert.equal(readFileSync(join(data, PIDFILE_NAME), 'utf8'), `${process.pid}\n`);
  assert.equal((await readJournal(journal))?.phase, 'Draining');
});

test('oversize journal and pidfile are refused unread; an oversize config is refused naming the file', async (t) => {
  const dir = tempDir(t);
  const journal = join(dir, 'journal.bin');
  writeFileSync(journal, Buffer.alloc(1 << 20));
  await assert.rejects(
    readJournal(journal),
    /cannot read handoff journal .*journal\.bin \(not a journal of ours/,
  );
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const holder = await DataDirLock.acquire(data);
  t.after(() => holder.release());
  writeFileSync(join(data, PIDFILE_NAME), `${'9'.repeat(100_000)}\n`);
  await assert.rejects(DataDirLock.acquire(data), (error) => {
    assert.ok(isHandoffError(error, 'LockHeld'));
    assert.equal(error.details.holderPid, 0, 'an oversize pidfile is not read');
    return true;
  });
  const config = join(dir, 'handoff.toml');
  writeFileSync(config, `# ${'x'.repeat(2 << 20)}\n`);
  assert.throws(
    () => loadConfigFile(config),
    (error) =>
      error instanceof ConfigError && /is 2097155 bytes; at most 1048576 are read/.test(error.message),
  );
});

test('the trigger socket refuses another uid even at mode 0666: status and a handoff get "permission denied", nothing runs', async (t) => {
  if (!canSwitchUser(t)) return;
  const s = await startSupervised(t, fixtureDaemon());
  // The mistake an admin can make after the fact: the directory and the socket opened up to everyone.
  chmodSync(s.dir, 0o755);
  chmodSync(s.trigger, 0o666);
  const evilMarker = join(s.dir, 'evil-ran');
  const evil = join(s.dir, 'evil');
  writeFileSync(evil, `#!/bin/sh\ntouch ${evilMarker}\n`);
  chmodSync(evil, 0o755);
  const client = `
    const socket = require('node:net').createConnection(process.argv[1]);
    let reply = '';
    socket.on('data', (d) => (reply += d));
    socket.on('close', () => process.stdout.write(reply));
    socket.on('error', (e) => process.stdout.write('error ' + e.code));
    socket.end(process.argv[2] + '\\n');`;
  for (const request of ['status', `handoff ${evil}`]) {
    assert.equal(
      asNobody(client, s.trigger, request),
      'err: permission denied: uid 65534 may not use this trigger socket\n',
      request,
    );
  }
  await s.supervisor.waitForOutput(/"peerUid":65534.*trigger connection refused/);
  assert.equal(existsSync(evilMarker), false, 'the script was never run');
  assert.equal((await s.status())?.handoffs.committed, 0);
});

test('a supervisor refuses a control socket served by another user, naming the uid', async (t) => {
  if (!canSwitchUser(t)) return;
  const dir = tempDir(t);
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs);
  chownSync(theirs, NOBODY, NOBODY);
  chmodSync(dir, 0o755);
  const controlPath = join(theirs, 'control.sock');
  // An "incumbent" of uid 65534 at the control path: it would say Hello to whoever connects.
  const fake = spawnChild(t, 'setpriv', [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    process.execPath,
    '-e',
    `require('node:net').createServer(() => {}).listen(process.argv[1], () => console.log('listening'))`,
    controlPath,
  ]);
  await fake.waitForOutput(/listening/);
  const supervisor = new Supervisor({ controlPath, logger: silentLogger });
  await assert.rejects(supervisor.performHandoff({ command: '/bin/true' }), (error) => {
    assert.ok(isHandoffError(error, 'PeerRejected'), String(error));
    assert.equal(error.details.uid, NOBODY);
    assert.match(error.message, /served by uid 65534, not by us \(uid 0\) or root; refusing to use it/);
    return true;
  });
});

test('a trigger binary outside allowed_binary_dirs, or not executable, is refused; one inside is accepted', async (t) => {
  const allowed = join(tempDir(t), 'builds');
  mkdirSync(allowed);
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    extraToml: [`allowed_binary_dirs = ["${allowed}"]`],
  });
  const outside = join(s.dir, 'v2');
  writeFileSync(outside, `#!/bin/sh\nexec "${process.execPath}" "$@"\n`);
  chmodSync(outside, 0o755);
  assert.match(
    (await sendTrigger(s.trigger, `handoff ${outside}`)).result,
    new RegExp(`^err: the binary "${outside}" resolves to ${outside}, outside allowed_binary_dirs`),
  );
  const link = join(allowed, 'v2');
  symlinkSync(outside, link);
  assert.match(
    (await sendTrigger(s.trigger, `handoff ${link}`)).result,
    /outside allowed_binary_dirs/,
    'a symlink inside that leads outside is refused',
  );
  const notExecutable = join(allowed, 'notes.txt');
  writeFileSync(notExecutable, 'hello\n');
  assert.match(
    (await sendTrigger(s.trigger, `handoff ${notExecutable}`)).result,
    /cannot be executed: EACCES/,
  );
  const inside = join(allowed, 'v3');
  writeFileSync(inside, `#!/bin/sh\nexec "${process.execPath}" "$@"\n`);
  chmodSync(inside, 0o755);
  await waitFor(
    async () => /committed=true/.test((await sendTrigger(s.trigger, `handoff ${inside}`)).result),
    { what: 'a handoff to the allowed build to commit', timeoutMs: 15_000 },
  );
});
