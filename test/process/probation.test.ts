// Probation under a real `handoff run` (src/cli/probation.ts, handoffs.ts): a build that commits and then
// dies, or that commits and then fails its health probe, is replaced by the build that served before it,
// under kv load with every acknowledged write read back; and with probation off, today's crash restart.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { DemoLoad } from '../../scripts/demo-load.js';
import { type HistoryEntry, historyPath } from '../../src/cli/history.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { processesWithEnv } from '../helpers/proc.js';
import {
  buildScript,
  fixtureDaemon,
  freePort,
  KV,
  runCli,
  type Supervised,
  startSupervised,
} from '../helpers/supervised.js';
import { waitFor } from '../helpers/wait-for.js';

const KV_ARGS = [KV, '--data-dir', '{data}', '--control-socket', '{control}', '--log-level', 'warn'];
const LOAD = { keepAliveWriters: 2, keepAliveReaders: 1, freshWriters: 1, freshReaders: 1 };
const LOOPS = Object.values(LOAD).reduce((a, b) => a + b);

/** Runs `LOAD` against the kv daemon until writes flow; stopped by the test's end at the latest. */
async function loadKv(t: Parameters<typeof startSupervised>[0], s: Supervised): Promise<DemoLoad> {
  // A loop whose request failed pauses briefly, so a crash costs each loop at most its request in flight
  // (not a burst of retries onto sockets the kernel has closed but the client has not noticed yet).
  const load = new DemoLoad(s.port, { pauseAfterFailureMs: 50 });
  load.start(LOAD);
  t.after(() => load.stop());
  await waitFor(() => load.acked.size >= 50, {
    what: 'kv writes to flow',
    diagnostics: () => s.supervisor.tail(),
  });
  return load;
}

/** Waits for `more` acknowledged writes beyond now: the service is serving writes again. */
async function moreWrites(load: DemoLoad, s: Supervised, more = 100): Promise<void> {
  const target = load.acked.size + more;
  await waitFor(() => load.acked.size >= target, {
    what: `${more} more acknowledged writes`,
    timeoutMs: 30_000,
    diagnostics: () => s.supervisor.tail(),
  });
}

function failures(load: DemoLoad): { failed: number; reasons: string[] } {
  let failed = 0;
  const reasons: string[] = [];
  for (const stats of load.stats.values()) {
    failed += stats.failed;
    reasons.push(...Object.keys(stats.errors));
  }
  return { failed, reasons };
}

test('a build that commits and exits 2 s later: the previous build is cold-started, no acknowledged write is lost, and SIGHUP never picks the failed build', async (t) => {
  const s = await startSupervised(t, {
    daemonArgs: KV_ARGS,
    extraToml: ['probation_secs = 60', 'restart_backoff_ms = 20', 'journal = "{dir}/journal.bin"'],
  });
  const load = await loadKv(t, s);
  const bad = buildScript(s.dir, 'kv-exits', {}, ['--exit-after-ms', '2000']);
  const firstPid = (await s.daemonPid())!;

  // The upgrade commits, then waits out the probation: the build dies, and the old one is back.
  const upgrade = runCli(t, ['upgrade', '--wait-probation', bad, '--config', s.config]);
  assert.deepEqual(await upgrade.exited, { code: 4, signal: null }, upgrade.tail());
  const said = `${upgrade.output()}\n${s.supervisor.tail(40)}`;
  assert.match(upgrade.output(), /handoff: committed in /, said);
  assert.match(
    upgrade.output(),
    /probation failed: the build exited with code 70 during probation; .*; fell back by cold start: .* serves again \(pid \d+\)/,
    said,
  );
  await moreWrites(load, s);

  const status = (await s.status())!;
  const fallBack = status.lastFallBack!;
  assert.deepEqual(
    [fallBack.cause, fallBack.how, fallBack.result, fallBack.from.binary, fallBack.to.binary],
    ['exited', 'cold start', 'serving', bad, process.execPath],
  );
  assert.equal(status.daemon?.binary, process.execPath, 'the previous build serves');
  assert.equal(status.daemon?.pid, fallBack.to.pid);
  assert.notEqual(status.daemon?.pid, firstPid);
  assert.equal(status.rejectedBuild?.binary, bad);
  assert.equal(status.restarts, 0, 'a fall-back, not a crash restart');
  assert.deepEqual(
    status.recent.map((entry) => (entry.kind === 'handoff' ? entry.report.status : entry.kind)),
    ['committed', 'fall-back'],
  );

  // SIGHUP hands off to the build restarts use: the previous one, not the one that failed.
  const before = status.daemon!.pid;
  process.kill(s.supervisor.pid, 'SIGHUP');
  const afterHup = await waitFor(
    async () => {
      const now = await s.status();
      return now && now.handoffs.committed === 2 && !now.handoffs.inProgress ? now : undefined;
    },
    { what: 'the SIGHUP handoff to commit', timeoutMs: 30_000, diagnostics: () => s.supervisor.tail() },
  );
  assert.notEqual(afterHup.daemon?.pid, before);
  assert.equal(afterHup.daemon?.binary, process.execPath);
  const last = afterHup.recent.at(-1)!;
  assert.ok(last.kind === 'handoff' && last.trigger === 'sighup' && last.binary === process.execPath);
  assert.equal(afterHup.probation, undefined, 'the same build again: nothing to fall back to');
  await moreWrites(load, s);

  await load.stop();
  assert.deepEqual(await load.verify(), [], 'every acknowledged write is still there');
  assert.equal(load.wrongReads, 0);
  // The crash severed the requests in flight on the build that died (at most one per client loop); every
  // request that reached the queue afterwards was served by the previous build.
  const { failed, reasons } = failures(load);
  t.diagnostic(
    `requests failed by the crash: ${failed} (${reasons.join(', ') || 'none'}) of ${load.samples.length}`,
  );
  const stats = JSON.stringify(Object.fromEntries(load.stats));
  assert.ok(
    failed <= LOOPS,
    `${failed} failed requests, more than the ${LOOPS} in flight at the crash: ${stats}`,
  );
  for (const reason of reasons) assert.match(reason, /^(ECONNRESET|EPIPE|socket hang up)$/, stats);

  // The history outlives the supervisor's memory: the file beside the journal holds the same entries.
  const history = (await sendTrigger(s.trigger, 'history')).history as HistoryEntry[];
  assert.deepEqual(
    history.map((entry) => entry.kind),
    ['handoff', 'fall-back', 'handoff'],
  );
  const file = readFileSync(historyPath(join(s.dir, 'journal.bin')), 'utf8');
  assert.deepEqual(
    file
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line)),
    history,
  );
});

test('a build whose health probe fails 3 times in a row is replaced by the previous build through a handoff, with no failed request', async (t) => {
  const port = await freePort();
  const s = await startSupervised(t, {
    daemonArgs: KV_ARGS,
    listenAddr: `127.0.0.1:${port}`,
    extraToml: [
      'probation_secs = 60',
      `probe_url = "http://127.0.0.1:${port}/healthz"`,
      'probe_interval_ms = 100',
      'probe_failures = 3',
    ],
  });
  const load = await loadKv(t, s);
  const unhealthy = buildScript(s.dir, 'kv-unhealthy', {}, ['--healthz-fails']);

  const reply = await sendTrigger(s.trigger, `handoff --stream --wait-probation ${unhealthy}`);
  assert.match(reply.result, /committed=true/, s.supervisor.tail());
  const probation = reply.probation as {
    result: string;
    cause: string;
    reason: string;
    fallBack: { how: string; result: string; to: { binary: string; pid: number } };
  };
  assert.deepEqual(
    [probation.result, probation.cause, probation.fallBack.how, probation.fallBack.result],
    ['failed', 'probe_failed', 'handoff', 'serving'],
  );
  assert.match(
    probation.reason,
    /^3 probes of http:\/\/127\.0\.0\.1:\d+\/healthz failed in a row, the last: HTTP 503$/,
  );
  const status = (await s.status())!;
  assert.deepEqual(
    [status.daemon?.binary, status.daemon?.pid],
    [process.execPath, probation.fallBack.to.pid],
  );
  assert.deepEqual([status.handoffs.committed, status.handoffs.rolledBack], [2, 0]);
  await moreWrites(load, s);

  await load.stop();
  assert.deepEqual(failures(load), { failed: 0, reasons: [] });
  assert.deepEqual(await load.verify(), []);
});

test('with probation off, a build that commits and then dies is restarted as that build, as before', async (t) => {
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    extraToml: ['restart_backoff_ms = 20'],
  });
  const v2 = buildScript(s.dir, 'v2', { HANDOFF_BUILD_TAG: 'v2', HANDOFF_EXIT_AFTER_READY_MS: '300' });
  const reply = await sendTrigger(s.trigger, `handoff --stream --wait-probation ${v2}`);
  assert.match(reply.result, /committed=true/);
  assert.deepEqual(reply.probation, { result: 'none', reason: 'probation_secs is 0' });
  const restarted = await waitFor(
    async () => {
      const status = await s.status();
      return status?.restarts === 1 && status.daemon?.controlSocketAnswers ? status : undefined;
    },
    { what: 'the crash restart', timeoutMs: 20_000, diagnostics: () => s.supervisor.tail() },
  );
  assert.deepEqual([restarted.daemon?.binary, restarted.daemon?.buildId], [v2, 'fixture-cold-v2']);
  assert.equal(restarted.lastFallBack, undefined);
  assert.equal(restarted.rejectedBuild, undefined);
});

test('SIGTERM during a fall-back handoff interrupts it like any other: the supervisor exits 0 and nothing is left', async (t) => {
  // The probe target answers 503 to everything, so the new build fails its probation at once; the previous
  // build is slow to start as a successor, so its fall-back handoff is still under way when SIGTERM comes.
  const probeTarget = http.createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((resolve) => probeTarget.listen(0, '127.0.0.1', resolve));
  t.after(() => probeTarget.close());
  const s = await startSupervised(t, {
    ...fixtureDaemon({ HANDOFF_SUCCESSOR_DELAY_MS: '60000' }),
    extraToml: [
      'probation_secs = 60',
      `probe_url = "http://127.0.0.1:${(probeTarget.address() as AddressInfo).port}/healthz"`,
      'probe_interval_ms = 50',
      'shutdown_grace_secs = 5',
    ],
  });
  const v2 = buildScript(s.dir, 'v2', { HANDOFF_BUILD_TAG: 'v2', HANDOFF_SUCCESSOR_DELAY_MS: '0' });
  const upgrade = sendTrigger(s.trigger, `handoff --stream --wait-probation ${v2}`);
  await waitFor(
    async () => {
      const status = await s.status();
      return status?.handoffs.committed === 1 && status.handoffs.inProgress && status.rejectedBuild;
    },
    { what: 'the fall-back handoff to begin', diagnostics: () => s.supervisor.tail() },
  );
  process.kill(s.supervisor.pid, 'SIGTERM');
  assert.deepEqual(await s.supervisor.exited, { code: 0, signal: null }, s.supervisor.tail());
  const probation = (await upgrade).probation as {
    result: string;
    fallBack: { result: string; error: string };
  };
  assert.deepEqual([probation.result, probation.fallBack.result], ['failed', 'rolled back']);
  assert.match(probation.fallBack.error, /interrupted.*the supervisor is stopping/);
  assert.deepEqual(processesWithEnv(`HANDOFF_SUPERVISED_TEST=${s.dir}`), [], 'no daemon of the run is left');
});
