// The inherited listeners (src/inherited-listeners.ts, SPEC §2.1) at real inherited fds, as detectRole reads
// them in a child process: listener names, the fallback to the index, an inherited fd that is not a
// listening socket, and the env it leaves behind.

import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closeFd, listenTcp } from '../../src/os.js';
import { spawnFixture } from '../helpers/spawn-child.js';

async function detectIn(
  t: TestContext,
  fds: number[],
  env: Record<string, string>,
): Promise<Record<string, unknown>> {
  const base = { ...process.env };
  for (const k of ['LISTEN_FDS', 'LISTEN_FDNAMES', 'HANDOFF_ROLE', 'HANDOFF_SOCK_FD']) delete base[k];
  const child = spawnFixture(t, 'detect-role.ts', [], { extraFds: fds, env: { ...base, ...env } });
  const status = await child.exited;
  assert.deepEqual(status, { code: 0, signal: null }, child.tail());
  const line = child.output().trim().split('\n').at(-1) ?? '';
  return JSON.parse(line);
}

function listener(t: TestContext): number {
  const { fd } = listenTcp('127.0.0.1', 0);
  t.after(() => closeFd(fd));
  return fd;
}

test('two inherited listeners with one name: the second falls back to its index, and the env is consumed', async (t) => {
  const result = await detectIn(t, [listener(t), listener(t)], { LISTEN_FDS: '2', LISTEN_FDNAMES: 'http' });
  assert.deepEqual(result, { kind: 'coldStart', names: ['http', '1'], env: {} });
});

test('named listeners keep their names in fd order', async (t) => {
  const result = await detectIn(t, [listener(t), listener(t)], {
    LISTEN_FDS: '2',
    LISTEN_FDNAMES: 'http:admin',
  });
  assert.deepEqual(result, { kind: 'coldStart', names: ['http', 'admin'], env: {} });
});

test('an inherited fd that is not a listening socket fails with NotAListener naming the fd and its name', async (t) => {
  const file = openSync(fileURLToPath(import.meta.url), 'r');
  t.after(() => closeSync(file));
  const result = await detectIn(t, [listener(t), file], { LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:admin' });
  assert.equal(result.code, 'NotAListener');
  assert.deepEqual(result.details, { fd: 4, name: 'admin' });
  assert.match(String(result.message), /inherited fd 4 \(admin\) is not a listening socket/);
});

test('LISTEN_FDS larger than what was inherited fails with NotAListener for the missing fd', async (t) => {
  const result = await detectIn(t, [listener(t)], { LISTEN_FDS: '3', LISTEN_FDNAMES: 'a:b:c' });
  assert.equal(result.code, 'NotAListener');
  assert.equal((result.details as { fd: number }).fd, 4);
});
