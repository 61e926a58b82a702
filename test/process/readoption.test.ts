// The supervisor can die and come back without downtime: a `handoff run` started while its config's daemon
// still serves adopts it (listeners back through pidfd_getfd), under load, with nothing failed or lost; a
// daemon that died meanwhile is cold-started; where taking the sockets is not permitted, nothing is touched.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DemoLoad } from '../../scripts/demo-load.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { processAlive } from '../helpers/spawn-child.js';
import { KV, runCli, type Supervised, startSupervised } from '../helpers/supervised.js';
import { waitFor } from '../helpers/wait-for.js';

const KV_ARGS = [KV, '--data-dir', '{data}', '--control-socket', '{control}', '--log-level', 'warn'];

/** Starts a second `handoff run` on the same config and waits until it reports a daemon that answers. */
async function restartSupervisor(t: Parameters<typeof runCli>[0], s: Supervised) {
  const next = runCli(t, ['run', '--config', s.config]);
  const daemon = await waitFor(
    async () => {
      const status = await s.status().catch(() => undefined);
      return status?.daemon?.controlSocketAnswers ? status.daemon : undefined;
    },
    { what: 'the new supervisor to serve', timeoutMs: 20_000, diagnostics: () => next.tail() },
  );
  return { next, daemon };
}

test('kill -9 of the supervisor under load: a new one adopts the daemon, 0 failed requests, 0 lost writes, and hands off', async (t) => {
  const s = await startSupervised(t, { daemonArgs: KV_ARGS });
  const load = new DemoLoad(s.port);
  load.start({ keepAliveWriters: 2, keepAliveReaders: 2, freshWriters: 1, freshReaders: 1 });
  t.after(() => load.stop());
  await waitFor(() => load.acked.size >= 50, { what: 'writes to flow' });
  const daemon = (await s.daemonPid())!;

  process.kill(s.supervisor.pid, 'SIGKILL');
  await s.supervisor.exited;
  const before = load.acked.size;
  await waitFor(() => load.acked.size >= before + 50, { what: 'the orphaned daemon to keep serving' });

  const { next, daemon: adopted } = await restartSupervisor(t, s);
  assert.equal(adopted.pid, daemon, 'the same daemon, adopted');
  assert.equal(typeof (adopted as { adoptedAtUnixMs?: number }).adoptedAtUnixMs, 'number');
  await next.waitForOutput(/adopted the serving daemon of a supervisor that died/);

  const reply = await sendTrigger(s.trigger, 'handoff');
  assert.match(reply.result, /committed=true/, next.tail());
  await waitFor(() => !processAlive(daemon), { what: 'the adopted daemon to exit after its Commit' });
  const after = load.acked.size;
  await waitFor(() => load.acked.size >= after + 50, { what: 'writes after the handoff' });

  await load.stop();
  const failed = [...load.stats.entries()].filter(([, stats]) => stats.failed > 0);
  assert.deepEqual(failed, [], 'no request failed');
  assert.deepEqual(await load.verify(), [], 'no acknowledged write lost');
});

test('a daemon that died while no supervisor ran is cold-started by the next one', async (t) => {
  const s = await startSupervised(t, { daemonArgs: KV_ARGS });
  const daemon = (await s.daemonPid())!;
  process.kill(s.supervisor.pid, 'SIGKILL');
  await s.supervisor.exited;
  process.kill(daemon, 'SIGKILL');
  await waitFor(() => !processAlive(daemon), { what: 'the orphaned daemon to die' });
  const { daemon: started } = await restartSupervisor(t, s);
  assert.notEqual(started.pid, daemon);
  assert.equal((started as { adoptedAtUnixMs?: number }).adoptedAtUnixMs, undefined, 'started, not adopted');
});

test('where pidfd_getfd is not permitted (another uid), adoption is refused naming the pid and the way out; nothing is taken', async (t) => {
  if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) {
    t.skip('needs root and setpriv to try the adoption as uid 65534');
    return;
  }
  const s = await startSupervised(t, { daemonArgs: KV_ARGS });
  const daemon = (await s.daemonPid())!;
  const adopt = fileURLToPath(new URL('./fixtures/adopt-as.ts', import.meta.url));
  const run = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '--import',
      import.meta.resolve('tsx'),
      adopt,
      String(daemon),
    ],
    { encoding: 'utf8', timeout: 20_000, cwd: '/' },
  );
  assert.match(
    run.stdout,
    new RegExp(
      `cannot adopt the daemon pid ${daemon} that still serves this config: .* is not permitted \\(another uid.*Stop it \\(kill -TERM ${daemon}\\)`,
    ),
    run.stderr,
  );
  assert.equal(processAlive(daemon), true);
  assert.match(
    (await sendTrigger(s.trigger, 'handoff')).result,
    /committed=true/,
    'the daemon and its supervisor are unharmed',
  );
});
