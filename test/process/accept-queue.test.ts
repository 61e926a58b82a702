// The accept queue under `handoff run` keeps the supervisor's size whatever API the daemon listens with, so a
// burst that arrives while nobody accepts is held, not dropped; a rollback names the build's own error; a
// clean stop leaves no control socket behind.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sendTrigger } from '../../src/cli/trigger.js';
import { DEFAULT_BACKLOG } from '../../src/os.js';
import type { HandoffReport } from '../../src/supervisor/report.js';
import { REPO_ROOT, spawnChild } from '../helpers/spawn-child.js';
import { CLI, KV, listenBacklog, listenOverflows, startSupervised } from '../helpers/supervised.js';
import { waitFor } from '../helpers/wait-for.js';

const README_DAEMON = fileURLToPath(new URL('./fixtures/readme-daemon.ts', import.meta.url));
const KV_ARGS = [KV, '--data-dir', '{data}', '--control-socket', '{control}', '--log-level', 'warn'];
/** What the kernel grants of the supervisor's 4096: it caps every backlog at net.core.somaxconn. */
const EXPECTED_BACKLOG = Math.min(
  DEFAULT_BACKLOG,
  Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8')),
);
const BURST = 2000;

for (const [name, daemonArgs] of [
  ['the kv example', KV_ARGS],
  ["a daemon written the README's way", [README_DAEMON, '{data}', '{control}']],
] as const) {
  test(`${name} keeps the supervisor's accept queue after a cold start and after a handoff`, async (t) => {
    const s = await startSupervised(t, { daemonArgs });
    assert.equal(listenBacklog(s.port), EXPECTED_BACKLOG, 'after the cold start');
    const reply = await sendTrigger(s.trigger, 'handoff');
    assert.match(reply.result, /committed=true/, s.supervisor.tail());
    assert.equal(listenBacklog(s.port), EXPECTED_BACKLOG, 'after the handoff');
  });
}

test(`a burst of ${BURST} new connections while the daemon accepts nothing is queued in full and served`, async (t) => {
  const s = await startSupervised(t, { daemonArgs: KV_ARGS });
  assert.match((await sendTrigger(s.trigger, 'handoff')).result, /committed=true/);
  const pid = (await s.daemonPid())!;
  const overflowsBefore = listenOverflows();
  process.kill(pid, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  });
  let connected = 0;
  const answers = Array.from({ length: BURST }, () => get(s.port, () => connected++));
  // Every handshake completes while the daemon is stopped: the kernel holds them all in the queue.
  await waitFor(() => connected === BURST, {
    what: `${BURST} connections to complete their handshake (${connected} so far)`,
    timeoutMs: 20_000,
  });
  process.kill(pid, 'SIGCONT');
  const statuses = await Promise.all(answers);
  assert.deepEqual(
    statuses.filter((status) => status !== 200),
    [],
    'every queued request was answered 200',
  );
  assert.equal(listenOverflows() - overflowsBefore, 0, 'no connection was dropped for a full queue');
});

test("a handoff to a build that throws at start rolls back with the build's own error in upgrade and status", async (t) => {
  const s = await startSupervised(t, { daemonArgs: KV_ARGS });
  const broken = join(s.dir, 'kv-broken');
  // The configured node arguments (they name the kv daemon), then the flag that breaks this build.
  writeFileSync(broken, `#!/bin/sh\nexec "${process.execPath}" "$@" --fail-at-start\n`);
  chmodSync(broken, 0o755);
  const upgrade = spawnChild(
    t,
    process.execPath,
    ['--import', 'tsx', CLI, 'upgrade', broken, '--config', s.config],
    {
      cwd: REPO_ROOT,
    },
  );
  assert.deepEqual(await upgrade.exited, { code: 2, signal: null }, upgrade.tail());
  assert.match(upgrade.output(), /rolled back.*this build is broken on purpose \(--fail-at-start\)/);
  const status = spawnChild(
    t,
    process.execPath,
    ['--import', 'tsx', CLI, 'status', '--json', '--config', s.config],
    {
      cwd: REPO_ROOT,
    },
  );
  assert.deepEqual(await status.exited, { code: 0, signal: null }, status.tail());
  const last = (JSON.parse(status.output()) as { lastReport: HandoffReport }).lastReport;
  assert.equal(last.status, 'rolled back');
  assert.match(last.reason ?? '', /exited with code 1; its last words: .*this build is broken on purpose/);
  assert.match(last.successor.lastWords ?? '', /daemon start-up failed: this build is broken on purpose/);
});

test('after SIGTERM the daemon has stopped and its control socket is gone', async (t) => {
  const s = await startSupervised(t, { daemonArgs: KV_ARGS });
  assert.equal(existsSync(s.control), true);
  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());
  assert.equal(existsSync(s.control), false, 'the control socket was removed');
  assert.equal(existsSync(s.trigger), false, 'the trigger socket was removed');
});

/** GET /healthz on a new connection; `onConnect` when the handshake completes; resolves the status. */
function get(port: number, onConnect: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { port, host: '127.0.0.1', path: '/healthz', agent: false, timeout: 60_000 },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('socket', (socket) => socket.once('connect', onConnect));
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
    req.end();
  });
}
