// `handoff run` as an operator meets it on a bad day: a second supervisor with the same config, a path that
// is not ours, a client idling on the control socket, a crash restart after an upgrade, relative binaries,
// and a build that never comes up. Each ends with a refusal that names the culprit, or with service.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sendTrigger } from '../../src/cli/trigger.js';
import { FakeSupervisor } from '../helpers/fake-supervisor.js';
import { processesWithEnv } from '../helpers/proc.js';
import { processAlive } from '../helpers/spawn-child.js';
import {
  askPid,
  buildScript,
  fixtureDaemon,
  markerPids,
  runCli,
  startSupervised,
} from '../helpers/supervised.js';
import { waitFor } from '../helpers/wait-for.js';

test("a second handoff run with the same config is refused, naming the first one's pid; the first serves on", async (t) => {
  const s = await startSupervised(t, fixtureDaemon());
  const second = runCli(t, ['run', '--config', s.config]);
  assert.deepEqual(await second.exited, { code: 3, signal: null }, second.tail());
  assert.match(
    second.output(),
    new RegExp(`another \`handoff run\` \\(pid ${s.supervisor.pid}\\) already supervises`),
  );
  assert.match((await sendTrigger(s.trigger, 'handoff')).result, /committed=true/, s.supervisor.tail(40));
  assert.equal(await askPid(s.port), markerPids(s.markers, 'serving').at(-1));
});

test('a trigger_socket path that holds a regular file is refused and the file is left as it was', async (t) => {
  const s = await startSupervised(t, fixtureDaemon());
  const precious = join(s.dir, 'precious.txt');
  writeFileSync(precious, 'not a socket\n');
  const config = join(s.dir, 'other.toml');
  writeFileSync(
    config,
    readFileSync(s.config, 'utf8').replace(/^trigger_socket = .*$/m, `trigger_socket = "${precious}"`),
  );
  const run = runCli(t, ['run', '--config', config]);
  assert.deepEqual(await run.exited, { code: 3, signal: null }, run.tail());
  assert.match(
    run.output(),
    new RegExp(`trigger socket ${precious} exists and is not a socket; not removing it`),
  );
  assert.equal(readFileSync(precious, 'utf8'), 'not a socket\n');
});

test('a client idling on the control socket with heartbeats does not block a handoff', async (t) => {
  const s = await startSupervised(t, fixtureDaemon());
  const idle = await FakeSupervisor.connect(t, s.control);
  let beating = true;
  // The committed incumbent ends the idle session: that end is expected, not a failure.
  const heartbeats = (async () => {
    while (beating) await idle.sync();
  })().catch(() => {});
  const reply = await sendTrigger(s.trigger, 'handoff');
  beating = false;
  assert.match(reply.result, /committed=true/, s.supervisor.tail());
  await heartbeats;
});

test('crash restarts and SIGHUP use the build that serves now, and status names it', async (t) => {
  const s = await startSupervised(t, fixtureDaemon());
  const v2 = buildScript(s.dir, 'v2', { HANDOFF_BUILD_TAG: 'v2' });
  assert.match((await sendTrigger(s.trigger, `handoff ${v2}`)).result, /committed=true/);
  const upgraded = (await s.status())!.daemon!;
  assert.equal(upgraded.binary, v2);

  process.kill(upgraded.pid, 'SIGKILL');
  const restarted = await waitFor(
    async () => {
      const daemon = (await s.status())?.daemon;
      return daemon && daemon.pid !== upgraded.pid && daemon.controlSocketAnswers ? daemon : undefined;
    },
    { what: 'the crashed daemon to be restarted', timeoutMs: 15_000, diagnostics: () => s.supervisor.tail() },
  );
  assert.deepEqual([restarted.binary, restarted.buildId], [v2, 'fixture-cold-v2'], 'restarted as v2, not v1');

  process.kill(s.supervisor.pid, 'SIGHUP');
  const afterHup = await waitFor(
    async () => {
      const daemon = (await s.status())?.daemon;
      return daemon && daemon.pid !== restarted.pid && daemon.buildId ? daemon : undefined;
    },
    { what: 'the SIGHUP handoff to commit', timeoutMs: 15_000, diagnostics: () => s.supervisor.tail() },
  );
  assert.deepEqual([afterHup.binary, afterHup.buildId], [v2, 'fixture-successor-v2']);
});

test('a trigger naming a relative or bare binary is refused; handoff upgrade resolves a relative path where it runs', async (t) => {
  const s = await startSupervised(t, fixtureDaemon());
  buildScript(s.dir, 'v2', { HANDOFF_BUILD_TAG: 'v2' });
  assert.equal(
    (await sendTrigger(s.trigger, 'handoff ./v2')).result,
    'err: the binary "./v2" must be an absolute path',
  );
  assert.equal(
    (await sendTrigger(s.trigger, 'handoff v2')).result,
    'err: the binary "v2" must be an absolute path',
  );
  assert.equal((await s.status())?.handoffs.committed, 0);

  const upgrade = runCli(t, ['upgrade', './v2', '--config', s.config], s.dir);
  assert.deepEqual(await upgrade.exited, { code: 0, signal: null }, upgrade.tail());
  assert.equal((await s.status())?.daemon?.binary, join(s.dir, 'v2'));
});

test('a cold start that never answers is killed and restarted until max_restarts; then a trigger starts a good build', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_START_DELAY_MS: '600000' }),
    extraToml: [
      'start_timeout_secs = 2',
      'restart_backoff_ms = 20',
      'max_restarts = 1',
      'restart_window_secs = 600',
    ],
    waitForDaemon: false,
  });
  const gaveUp = await waitFor(async () => (await s.status())?.restartsGaveUp, {
    what: 'the supervisor to give up restarting',
    timeoutMs: 20_000,
    diagnostics: () => s.supervisor.tail(),
  });
  assert.equal(gaveUp.restarts, 1);
  assert.equal(gaveUp.lastExit, 'killed by SIGKILL');
  await s.supervisor.waitForOutput(/gave up restarting the daemon: 1 restarts within 600 s/);
  const status = (await s.status())!;
  assert.deepEqual([status.daemon, status.restarts], [undefined, 1]);
  await waitFor(() => processesWithEnv(`HANDOFF_SUPERVISED_TEST=${s.dir}`).length === 0, {
    what: 'every build that never answered to be gone',
  });

  const good = buildScript(s.dir, 'good', { HANDOFF_START_DELAY_MS: '0' });
  const reply = await sendTrigger(s.trigger, `handoff ${good}`);
  assert.match(reply.result, new RegExp(`^ok: cold-started ${good} \\(pid \\d+\\)$`));
  const pid = Number(/pid (\d+)/.exec(reply.result)![1]);
  assert.equal(processAlive(pid), true);
  const port = Number((await s.status())!.listeners[0]!.addr.split(':').at(-1));
  assert.equal(await askPid(port), pid);
});
