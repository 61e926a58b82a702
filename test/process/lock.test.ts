// DataDirLock against real processes and real flock(2) holders (SPEC §6, STYLE rule 24): our own fixture,
// util-linux flock(1), Python's fcntl.flock, SIGKILL of the holder, and the stale-lock rules.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { DataDirLock, LOCK_FILE_NAME, PIDFILE_NAME } from '../../src/lock.js';
import { spawnChild, spawnFixture } from '../helpers/spawn-child.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A pid that certainly belonged to a process that has exited and been reaped. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '']);
  assert.equal(result.status, 0);
  return result.pid;
}

function readPidfile(dir: string): string {
  return readFileSync(join(dir, PIDFILE_NAME), 'utf8');
}

/** util-linux `flock -n <file> true`: its exit status (0 = got the lock, 1 = busy). */
function flockCliStatus(lockPath: string): number | null {
  return spawnSync('flock', ['-n', lockPath, 'true']).status;
}

async function acquireInTest(t: TestContext, dir: string): Promise<DataDirLock> {
  const lock = await DataDirLock.acquire(dir);
  t.after(() => lock.release());
  return lock;
}

/** A Python process holding fcntl.flock(LOCK_EX) on `lockPath` until it is killed. */
async function pythonHolder(t: TestContext, lockPath: string): Promise<void> {
  const script =
    'import fcntl, signal, sys\n' +
    "f = open(sys.argv[1], 'a+')\n" +
    'fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n' +
    "print('LOCKED', flush=True)\n" +
    'signal.pause()\n';
  const holder = spawnChild(t, 'python3', ['-c', script, lockPath]);
  await holder.waitForOutput(/^LOCKED$/m);
}

test('a second process gets LockHeld naming the holder, and after SIGKILL acquire succeeds at once', async (t) => {
  const dir = tempDir(t);
  const holder = spawnFixture(t, 'lock-holder.ts', [dir]);
  await holder.waitForOutput(/LOCKED \d+/);

  await assert.rejects(DataDirLock.acquire(dir), (error) => {
    assert.ok(isHandoffError(error, 'LockHeld'), String(error));
    assert.equal(error.details.holderPid, holder.pid);
    assert.equal(error.message, `data-dir lock on ${dir} held by pid ${holder.pid}`);
    return true;
  });

  await holder.kill();
  // A crash leaves the pidfile behind; the kernel has already dropped the flock.
  assert.equal(readPidfile(dir), `${holder.pid}\n`);
  const lock = await acquireInTest(t, dir);
  assert.equal(lock.held, true);
  assert.equal(lock.dataDir, dir);
  assert.equal(readPidfile(dir), `${process.pid}\n`);
});

test('a holder that releases on SIGTERM deletes its pidfile and frees the lock', async (t) => {
  const dir = tempDir(t);
  const holder = spawnFixture(t, 'lock-holder.ts', [dir]);
  await holder.waitForOutput(/LOCKED \d+/);
  holder.process.kill('SIGTERM');
  assert.deepEqual(await holder.exited, { code: 0, signal: null });
  assert.throws(() => readPidfile(dir), { code: 'ENOENT' });
  await acquireInTest(t, dir);
});

test('a second acquire in the same process fails without leaking an fd, and release then re-acquire works', async (t) => {
  const dir = tempDir(t);
  const lock = await acquireInTest(t, dir);
  const fdsBefore = readdirSync('/proc/self/fd').length;
  await assert.rejects(DataDirLock.acquire(dir), (error) => {
    assert.ok(isHandoffError(error, 'LockHeld'), String(error));
    assert.equal(error.details.holderPid, process.pid);
    assert.equal(error.details.path, join(dir, LOCK_FILE_NAME));
    return true;
  });
  assert.equal(readdirSync('/proc/self/fd').length, fdsBefore);

  lock.release();
  assert.equal(lock.held, false);
  assert.throws(() => readPidfile(dir), { code: 'ENOENT' });
  lock.release(); // idempotent
  const again = await acquireInTest(t, dir);
  assert.equal(again.held, true);
});

test('acquire creates the data dir recursively and never truncates an existing lock file', async (t) => {
  const dir = join(tempDir(t), 'a', 'b');
  const first = await acquireInTest(t, dir);
  first.release();
  const lockPath = join(dir, LOCK_FILE_NAME);
  writeFileSync(lockPath, 'keep me');
  const { ino } = statSync(lockPath);
  const lock = await acquireInTest(t, dir);
  lock.release();
  assert.equal(readFileSync(lockPath, 'utf8'), 'keep me');
  assert.equal(statSync(lockPath).ino, ino);
});

test('a deferred pidfile: none until writePidfile, the flock refuses meanwhile, release deletes it', async (t) => {
  const dir = tempDir(t);
  const lock = await DataDirLock.acquire(dir, { deferPidfile: true });
  t.after(() => lock.release());
  assert.equal(existsSync(join(dir, PIDFILE_NAME)), false, 'no pidfile before writePidfile');
  // The flock is the lock: without a pidfile a second acquire is refused all the same, naming no pid.
  await assert.rejects(DataDirLock.acquire(dir), (error) => {
    assert.ok(isHandoffError(error, 'LockHeld'), String(error));
    assert.equal(error.details.holderPid, 0);
    return true;
  });
  await lock.writePidfile();
  assert.equal(readPidfile(dir), `${process.pid}\n`);
  lock.release();
  assert.equal(existsSync(join(dir, PIDFILE_NAME)), false, 'release deletes the pidfile');
  // A released lock writes nothing: no pidfile may name a process that does not hold the lock.
  await lock.writePidfile();
  assert.equal(existsSync(join(dir, PIDFILE_NAME)), false, 'writePidfile after release writes nothing');
});

test('util-linux flock(1) holding the lock file makes acquire fail with holder pid 0 (no pidfile)', async (t) => {
  const dir = tempDir(t);
  const lockPath = join(dir, LOCK_FILE_NAME);
  // --no-fork: flock(1) execs the shell itself, so one process holds the lock and one group kill ends it.
  const holder = spawnChild(t, 'flock', [
    '-n',
    '--no-fork',
    lockPath,
    'sh',
    '-c',
    'echo LOCKED; exec sleep 60',
  ]);
  await holder.waitForOutput(/^LOCKED$/m);
  await assert.rejects(DataDirLock.acquire(dir), (error) => {
    assert.ok(isHandoffError(error, 'LockHeld'), String(error));
    assert.equal(error.details.holderPid, 0);
    return true;
  });
  await holder.kill();
  await acquireInTest(t, dir);
});

test("Python's fcntl.flock holding the lock file makes acquire fail", async (t) => {
  const dir = tempDir(t);
  await pythonHolder(t, join(dir, LOCK_FILE_NAME));
  await assert.rejects(DataDirLock.acquire(dir), (error) => isHandoffError(error, 'LockHeld'));
});

test('while this process holds the lock, flock -n fails with exit 1; after release it succeeds', async (t) => {
  const dir = tempDir(t);
  const lock = await acquireInTest(t, dir);
  const lockPath = join(dir, LOCK_FILE_NAME);
  assert.equal(flockCliStatus(lockPath), 1);
  lock.release();
  assert.equal(flockCliStatus(lockPath), 0);
});

test('the lock fd is not inherited by a child, so the lock dies with this process, not the child', async (t) => {
  const dir = tempDir(t);
  const lock = await acquireInTest(t, dir);
  const lockPath = join(dir, LOCK_FILE_NAME);
  // spawn returns only after the child's exec succeeded, so its fd table is final.
  const child = spawnChild(t, 'sleep', ['60']);
  const targets = readdirSync(`/proc/${child.pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${child.pid}/fd/${fd}`);
    } catch {
      return '';
    }
  });
  assert.ok(!targets.includes(lockPath), `child holds ${lockPath}: ${targets.join(', ')}`);
  lock.release();
  assert.equal(flockCliStatus(lockPath), 0, 'the living child must not keep the lock');
});

test('breaking a stale lock is refused while the pidfile names a live holder', async (t) => {
  const dir = tempDir(t);
  const holder = spawnFixture(t, 'lock-holder.ts', [dir]);
  await holder.waitForOutput(/LOCKED \d+/);
  await assert.rejects(DataDirLock.acquireOrBreakStale(dir), (error) => {
    assert.ok(isHandoffError(error, 'StaleLockBreakRefused'), String(error));
    assert.equal(error.details.holderPid, holder.pid);
    return true;
  });
});

test('breaking a stale lock succeeds when the pidfile names a dead pid and no flock is held', async (t) => {
  const dir = tempDir(t);
  const lockPath = join(dir, LOCK_FILE_NAME);
  writeFileSync(lockPath, '');
  writeFileSync(join(dir, PIDFILE_NAME), `${deadPid()}\n`);
  const { ino } = statSync(lockPath);
  const lock = await DataDirLock.acquireOrBreakStale(dir);
  t.after(() => lock.release());
  assert.equal(lock.held, true);
  assert.equal(readPidfile(dir), `${process.pid}\n`);
  assert.equal(statSync(lockPath).ino, ino, 'the lock file must never be replaced');
});

test('breaking a stale lock is refused when the pidfile names a dead pid but a flock is really held', async (t) => {
  const dir = tempDir(t);
  const lockPath = join(dir, LOCK_FILE_NAME);
  await pythonHolder(t, lockPath);
  const dead = deadPid();
  writeFileSync(join(dir, PIDFILE_NAME), `${dead}\n`);
  const { ino } = statSync(lockPath);
  await assert.rejects(DataDirLock.acquireOrBreakStale(dir), (error) => {
    assert.ok(isHandoffError(error, 'StaleLockBreakRefused'), String(error));
    assert.equal(error.details.holderPid, dead);
    assert.match(error.message, /still held/);
    return true;
  });
  assert.equal(statSync(lockPath).ino, ino, 'the lock file must never be replaced');
  assert.equal(readPidfile(dir), `${dead}\n`, 'a refused break must not touch the pidfile');
});
