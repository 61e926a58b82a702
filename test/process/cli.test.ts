// The `handoff` CLI as a user runs it: `handoff run` supervising the fixture daemon, handoffs from the
// trigger socket, SIGHUP and `handoff upgrade`, a daemon restarted after SIGKILL while a client waits, status,
// and SIGTERM stopping everything.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONFIG_KEYS } from '../../src/cli/config.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { DAEMON } from '../helpers/handoff-fixture.js';
import { sweepAfter } from '../helpers/proc.js';
import { processAlive, REPO_ROOT, spawnChild } from '../helpers/spawn-child.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Setup {
  dir: string;
  config: string;
  trigger: string;
  markers: string;
  servingPids(): number[];
}

function setup(t: TestContext, extraToml = ''): Setup {
  const dir = tempDir(t, 'handoff-cli-');
  const markers = join(dir, 'markers');
  const config = join(dir, 'handoff.toml');
  const trigger = join(dir, 'trigger.sock');
  mkdirSync(markers);
  writeFileSync(
    config,
    [
      `control_socket = "${join(dir, 'control.sock')}"`,
      `binary = "${process.execPath}"`,
      `args = ["--import", "tsx", "${DAEMON}"]`,
      `trigger_socket = "${trigger}"`,
      `journal = "${join(dir, 'journal.bin')}"`,
      'restart_backoff_ms = 100',
      'shutdown_grace_secs = 5',
      'log_level = "warn"',
      extraToml,
      '[env]',
      `HANDOFF_DATA_DIR = "${join(dir, 'data')}"`,
      `HANDOFF_CONTROL_SOCKET = "${join(dir, 'control.sock')}"`,
      `HANDOFF_MARKER_DIR = "${markers}"`,
      'HANDOFF_TIMING = "fast"',
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
    ].join('\n'),
  );
  const servingPids = () => {
    const path = join(markers, 'serving');
    return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  };
  return { dir, config, trigger, markers, servingPids };
}

async function startSupervisor(t: TestContext, s: Setup) {
  const child = spawnChild(t, process.execPath, ['--import', 'tsx', CLI, 'run', '--config', s.config], {
    cwd: REPO_ROOT,
  });
  // After hooks run in order: the supervisor is killed first, then the daemons it left in their own groups.
  sweepAfter(t, `HANDOFF_DATA_DIR=${join(s.dir, 'data')}`);
  await waitFor(() => s.servingPids().length === 1 && existsSync(s.trigger), {
    what: 'the supervisor to start the daemon',
    timeoutMs: 15_000,
    diagnostics: () => child.tail(),
  });
  const status = (await sendTrigger(s.trigger, 'status')).status as { listeners: Array<{ addr: string }> };
  const port = Number(status.listeners[0]!.addr.split(':').at(-1));
  return { child, port };
}

function askPid(port: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer on ${port}`)), timeoutMs);
    socket.setEncoding('utf8').on('data', (d: string) => {
      data += d;
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Number(data.trim()));
    });
  });
}

function runCli(t: TestContext, args: string[]) {
  return spawnChild(t, process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO_ROOT });
}

test('trigger-socket and SIGHUP handoffs commit; upgrade exits 0 committed, 2 rolled back, 3 unreachable', async (t) => {
  const s = setup(t);
  const { child: supervisor, port } = await startSupervisor(t, s);
  const first = s.servingPids()[0]!;
  assert.equal(await askPid(port), first);

  const reply = await sendTrigger(s.trigger, 'handoff');
  assert.match(reply.result, /^ok: handoff_id=[0-9a-f-]{36} committed=true abort_reason=None$/);
  // The supervisor answers on Ready; the successor writes its marker just after: wait for it, bounded.
  const second = await waitFor(() => s.servingPids()[1], { what: 'the successor to mark itself serving' });
  assert.equal(await askPid(port), second);
  await waitFor(() => !processAlive(first), { what: `the old daemon ${first} to exit` });

  process.kill(supervisor.pid, 'SIGHUP');
  await waitFor(() => s.servingPids().length === 3, {
    what: 'the SIGHUP handoff',
    timeoutMs: 15_000,
    diagnostics: () => supervisor.tail(),
  });
  const third = s.servingPids()[2]!;
  await waitFor(async () => (await askPid(port)) === third, { what: 'the third daemon to answer' });

  const upgrade = runCli(t, ['upgrade', '--config', s.config]);
  assert.deepEqual(await upgrade.exited, { code: 0, signal: null }, upgrade.tail());
  assert.match(
    upgrade.output(),
    /draining the incumbent[\s\S]*new build ready[\s\S]*handoff: committed in [\d.]+ ms: pid \d+ → pid \d+/,
  );

  // A binary that does not exist is refused before anything is touched: exit 3, no report.
  const missing = runCli(t, ['upgrade', '/nonexistent/kv-v2', '--trigger', s.trigger, '--json']);
  assert.deepEqual(await missing.exited, { code: 3, signal: null }, missing.tail());
  assert.deepEqual(JSON.parse(missing.output()), {
    error: 'err: the binary "/nonexistent/kv-v2" cannot be executed: ENOENT',
  });

  const broken = runCli(t, ['upgrade', '/bin/false', '--trigger', s.trigger, '--json']);
  assert.deepEqual(await broken.exited, { code: 2, signal: null }, broken.tail());
  const report = JSON.parse(broken.output());
  assert.equal(report.status, 'rolled back');
  assert.match(report.reason, /successor failed before its handshake: .*exited with code 1/);

  const unreachable = runCli(t, ['upgrade', '--trigger', join(s.dir, 'nobody.sock')]);
  assert.deepEqual(await unreachable.exited, { code: 3, signal: null }, unreachable.tail());
  assert.match(unreachable.output(), /cannot reach the trigger socket .*nobody\.sock/);
});

test('back-to-back trigger handoffs all commit: a reply means the new build answers on the control socket', async (t) => {
  // Scenario: each trigger is sent the moment the previous reply arrives. The successor takes the control
  // path over only after Ready, so a reply sent on Commit alone could reach the client before that, and the
  // next handoff would find the old build's dead socket (ECONNREFUSED). Expected: every one commits.
  const s = setup(t);
  await startSupervisor(t, s);
  for (let i = 1; i <= 10; i++) {
    const reply = await sendTrigger(s.trigger, 'handoff');
    assert.match(reply.result, /committed=true/, `handoff ${i}: ${reply.result}`);
  }
  assert.equal(s.servingPids().length, 11);
});

test('a daemon killed outside a handoff is restarted, and a client that connected meanwhile is served', async (t) => {
  const s = setup(t);
  const { port } = await startSupervisor(t, s);
  const first = s.servingPids()[0]!;
  process.kill(first, 'SIGKILL');
  await waitFor(() => !processAlive(first), { what: 'the daemon to die' });
  // Nobody accepts now; the supervisor's listener queues this client until the restarted daemon serves it.
  const answer = await askPid(port, 15_000);
  assert.notEqual(answer, first);
  assert.deepEqual(s.servingPids(), [first, answer]);
  const status = (await sendTrigger(s.trigger, 'status')).status as {
    restarts: number;
    daemon: { pid: number };
  };
  assert.equal(status.restarts, 1);
  assert.equal(status.daemon.pid, answer);
});

test('status shows the serving daemon; SIGTERM stops the daemon and the supervisor, leaving nothing behind', async (t) => {
  const s = setup(t);
  const { child: supervisor } = await startSupervisor(t, s);
  const daemon = s.servingPids()[0]!;
  const status = runCli(t, ['status', '--config', s.config]);
  assert.deepEqual(await status.exited, { code: 0, signal: null }, status.tail());
  assert.match(status.output(), new RegExp(`daemon     pid ${daemon}, build fixture-cold, up \\d+s`));
  assert.match(status.output(), /listener {3}http 127\.0\.0\.1:\d+/);

  process.kill(supervisor.pid, 'SIGTERM');
  assert.deepEqual(await supervisor.exited, { code: 0, signal: null }, supervisor.tail());
  assert.equal(processAlive(daemon), false, 'the daemon was stopped');
  assert.equal(existsSync(s.trigger), false, 'the trigger socket was removed');
});

test('an invalid config is one line naming the file and key, exit 2', async (t) => {
  const s = setup(t, 'bogus_key = 1');
  const run = runCli(t, ['run', '--config', s.config]);
  assert.deepEqual(await run.exited, { code: 2, signal: null });
  assert.equal(
    run.output().trim().split('\n')[0],
    `handoff: ${s.config}: bogus_key: unknown key (known keys: ${Object.keys(CONFIG_KEYS).join(', ')})`,
  );
});

test('a second trigger during a handoff is refused, and the first commits without the old daemon being restarted', async (t) => {
  const s = setup(t);
  const { port } = await startSupervisor(t, s);
  // Both requests go out at once; a handoff takes hundreds of ms, so whichever is read second finds one running.
  const [a, b] = await Promise.all([sendTrigger(s.trigger, 'handoff'), sendTrigger(s.trigger, 'handoff')]);
  const results = [a.result, b.result].sort();
  assert.match(results[0]!, /^err: another handoff is already in progress$/);
  assert.match(results[1]!, /committed=true/);
  const newPid = await waitFor(() => s.servingPids()[1], { what: 'the successor to serve' });
  assert.equal(await askPid(port), newPid);
  const status = (await sendTrigger(s.trigger, 'status')).status as {
    restarts: number;
    handoffs: { committed: number };
  };
  assert.equal(status.restarts, 0, 'the old daemon exiting after its Commit was not taken for a crash');
  assert.equal(status.handoffs.committed, 1);
});
