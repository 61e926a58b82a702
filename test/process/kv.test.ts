// The example kv daemon under `handoff run`, end to end: 20 handoffs under read and write load, each new
// build preparing a 4 MB log while the writes go on and catching up on the tail after Begin, then every
// acknowledged write read back, and a handoff to a build that fails at start rolls back by itself.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeKvLog } from '../../bench/kv-log.js';
import type { OpenReport } from '../../examples/kv/store.js';
import { DemoLoad } from '../../scripts/demo-load.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import type { HandoffReport } from '../../src/supervisor/report.js';
import { sweepAfter } from '../helpers/proc.js';
import { REPO_ROOT, spawnChild } from '../helpers/spawn-child.js';
import { buildScript } from '../helpers/supervised.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const KV = fileURLToPath(new URL('../../examples/kv/daemon.ts', import.meta.url));

async function startKvUnderSupervisor(t: TestContext) {
  const dir = tempDir(t, 'handoff-kv-');
  const data = join(dir, 'data');
  const control = join(dir, 'control.sock');
  const trigger = join(dir, 'trigger.sock');
  const config = join(dir, 'handoff.toml');
  // Enough log that each new build's prepare takes a while, with writes arriving meanwhile.
  writeKvLog(data, { bytes: 4e6 });
  const kvArgs = [
    '--import',
    'tsx',
    KV,
    '--data-dir',
    data,
    '--control-socket',
    control,
    '--log-level',
    'warn',
  ];
  writeFileSync(
    config,
    [
      `control_socket = "${control}"`,
      `binary = "${process.execPath}"`,
      `args = ${JSON.stringify(kvArgs)}`,
      `trigger_socket = "${trigger}"`,
      'verify_revisions = true',
      'log_level = "warn"',
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
      '[env]',
      `HANDOFF_KV_TEST = "${dir}"`,
    ].join('\n'),
  );
  const supervisor = spawnChild(t, process.execPath, ['--import', 'tsx', CLI, 'run', '--config', config], {
    cwd: REPO_ROOT,
  });
  // The kv daemons run in their own process groups: sweep them after the supervisor is killed.
  sweepAfter(t, `HANDOFF_KV_TEST=${dir}`);
  const port = await waitFor(
    async () => {
      if (!existsSync(trigger)) return undefined;
      const status = (await sendTrigger(trigger, 'status')).status as {
        daemon?: { controlSocketAnswers: boolean };
        listeners: Array<{ addr: string }>;
      };
      return status.daemon?.controlSocketAnswers
        ? Number(status.listeners[0]!.addr.split(':').at(-1))
        : undefined;
    },
    { what: 'the kv daemon to serve', timeoutMs: 20_000, diagnostics: () => supervisor.tail() },
  );
  return { dir, port, trigger, supervisor };
}

/** GET /stats from whichever instance answers now. */
function stats(port: number): Promise<{ pid: number; opened: OpenReport }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/stats', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

test('the kv daemon keeps every acknowledged write across 20 handoffs under load, each new build catching up on the tail written while it prepared', async (t) => {
  const { port, trigger, supervisor } = await startKvUnderSupervisor(t);
  const load = new DemoLoad(port);
  load.start({ keepAliveWriters: 3, keepAliveReaders: 2, freshWriters: 1, freshReaders: 1 });
  t.after(() => load.stop());
  await waitFor(() => load.acked.size >= 50, { what: 'writes to flow' });
  const reports: HandoffReport[] = [];
  const tailPuts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const before = load.acked.size;
    const reply = await sendTrigger(trigger, 'handoff --stream');
    const report = reply.report as HandoffReport;
    reports.push(report);
    assert.equal(
      report.status,
      'committed',
      `handoff ${i}: ${report.reason ?? reply.result}\n${supervisor.tail()}`,
    );
    // The new build replayed the log up to where it was while it prepared, and after Begin only the
    // writes acknowledged since (at least one, under this load) and the old build's seal footer.
    const { pid, opened } = await stats(port);
    assert.equal(pid, report.successor.pid);
    assert.equal(opened.preparedUnused, undefined, `handoff ${i}: the prepared prefix was not used`);
    assert.ok(opened.preparedBytes > 4e6, `handoff ${i}: prepared ${opened.preparedBytes} bytes`);
    assert.ok(opened.replayedRecords >= 2, `handoff ${i}: a tail of ${opened.replayedRecords} records`);
    tailPuts.push(opened.replayedRecords - 1);
    // Some load between handoffs, so every successor takes writes before it is replaced.
    await waitFor(() => load.acked.size >= before + 20, { what: `writes after handoff ${i}` });
  }
  const broken = await sendTrigger(trigger, 'handoff --stream /bin/false');
  assert.equal(
    (broken.report as HandoffReport).status,
    'rolled back',
    'a build that exits at once rolls back',
  );
  await load.stop();
  const failed = [...load.stats.entries()].filter(([, s]) => s.failed > 0);
  assert.deepEqual(failed, [], 'no request failed');
  assert.equal(load.wrongReads, 0);
  const lost = await load.verify();
  assert.deepEqual(lost, [], `${lost.length} of ${load.acked.size} acknowledged writes lost`);
  assert.ok(load.acked.size > 400, `only ${load.acked.size} writes were acknowledged`);
  t.diagnostic(`puts replayed after Begin, per handoff: ${tailPuts.join(' ')}`);
});

test('a new kv build rolled back at Ready after it served: the old build keeps every write either acknowledged', async (t) => {
  const { dir, port, trigger, supervisor } = await startKvUnderSupervisor(t);
  const load = new DemoLoad(port);
  load.start({ keepAliveWriters: 3, keepAliveReaders: 1, freshWriters: 2, freshReaders: 0 });
  t.after(() => load.stop());
  await waitFor(() => load.acked.size >= 50, { what: 'writes to flow' });
  const { pid: oldPid } = await stats(port);
  // It listens and serves what queued during the handoff, then its Ready advertises one revision more
  // than the old build sealed, and verify_revisions rolls it back: it is killed after it may have written.
  const misreporting = buildScript(dir, 'kv-misreports', {}, ['--misreport-revision']);
  for (let i = 0; i < 5; i++) {
    const before = load.acked.size;
    const reply = await sendTrigger(trigger, `handoff --stream ${misreporting}`);
    const report = reply.report as HandoffReport;
    assert.equal(report.status, 'rolled back', `attempt ${i}: ${reply.result}\n${supervisor.tail()}`);
    assert.match(report.reason ?? '', /advertised revisions \[\d+\] but the incumbent sealed/);
    await waitFor(() => load.acked.size >= before + 20, { what: `writes after attempt ${i}` });
  }
  assert.equal((await stats(port)).pid, oldPid, 'the old build serves on');
  await load.stop();
  // Connections the killed build had accepted are reset (docs/protocol.md §5.3); nothing else may fail.
  const reasons = new Set([...load.stats.values()].flatMap((s) => Object.keys(s.errors)));
  for (const reason of reasons)
    assert.match(reason, /^(ECONNRESET|socket hang up|EPIPE)$/, `a request failed with ${reason}`);
  assert.equal(load.wrongReads, 0);
  const lost = await load.verify();
  assert.deepEqual(lost, [], `${lost.length} of ${load.acked.size} acknowledged writes lost`);
  const failed = [...load.stats.values()].reduce((n, s) => n + s.failed, 0);
  t.diagnostic(`${load.acked.size} writes acknowledged, ${failed} requests reset by the killed builds`);
});
