// `npm run bench -- --server KIND`: one server kind's daemon under `handoff run`, driven by real clients of
// its protocol (the same loads as the servers test), deployed N times by handoff; what the clients saw.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { latency, percentile } from '../../scripts/demo-report.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import type { HandoffReport } from '../../src/supervisor/report.js';
import { ACCEPT_LOG_ENV, deployGapsMs, readAccepts } from '../accept-gap.js';
import { ROOT, startHandoffRun } from '../handoff-run.js';
import type { ServerKind } from './daemon-kinds.js';
import { H2Load } from './h2-load.js';
import { HttpsLoad } from './https-load.js';
import type { ClientStats, Sample, ServerLoad } from './load-stats.js';
import { TcpLoad } from './tcp-load.js';
import { makeTestCert } from './tls-cert.js';
import { WsLoad } from './ws-load.js';

export interface ServerCellConfig {
  readonly deploys: number;
  readonly warmupMs: number;
  readonly steadyMs: number;
  readonly pauseMs: number;
  /** Requests sent up to this long after a deploy finished still count as "during" it. */
  readonly duringTailMs: number;
}

export interface ServerCellResult {
  readonly server: ServerKind;
  readonly wallMs: number;
  readonly deploys: { attempted: number; ok: number; failures: string[] };
  readonly clients: Record<string, ClientStats>;
  readonly declines: Record<string, number>;
  readonly totals: { sent: number; ok: number; retried: number; failed: number };
  readonly latencyMs: { steady: ReturnType<typeof latency>; duringDeploys: ReturnType<typeof latency> };
  readonly triggerToDoneMs: { median: number; p99: number };
  readonly drainMs: { median: number; p99: number };
  readonly acceptGapMs: { count: number; median: number; max: number };
  /** ws only: acknowledged messages missing from the daemon's log afterwards. */
  readonly lostAcked?: { acked: number; lost: number };
}

/** The loads of the benchmark: a few more clients than the test's. */
function makeLoad(server: ServerKind, port: number, ca: Buffer): ServerLoad {
  switch (server) {
    case 'https':
      return new HttpsLoad({ port, ca, keepAliveClients: 4, newConnectionClients: 2 }).start();
    case 'h2':
      return new H2Load({
        port,
        ca,
        sharedSessionClients: 4,
        newSessionClients: 1,
        undiciClients: 2,
      }).start();
    case 'h2c':
      return new H2Load({ port, sharedSessionClients: 4, newSessionClients: 1, undiciClients: 0 }).start();
    case 'ws':
      return new WsLoad({ port, longLivedClients: 6, newConnectionClients: 1 }).start();
    case 'tcp':
      return new TcpLoad({ port, longLivedClients: 4, newConnectionClients: 2 }).start();
  }
}

export async function runServerCell(
  server: ServerKind,
  runDir: string,
  config: ServerCellConfig,
  say: (line: string) => void,
): Promise<ServerCellResult> {
  const startedMs = performance.now();
  const dir = join(runDir, `server-${server}`);
  mkdirSync(dir, { recursive: true });
  const cert = makeTestCert(dir);
  const acceptLog = join(dir, 'accepts.log');
  const run = await startHandoffRun({
    dir,
    binary: process.execPath,
    args: [
      '--import',
      join(ROOT, 'dist/bench/accept-log.js'),
      join(ROOT, 'dist/bench/servers/daemon.js'),
      '--kind',
      server,
      '--tls-dir',
      dir,
    ],
    env: { [ACCEPT_LOG_ENV]: acceptLog },
    logLevel: 'warn',
  });
  let load: ServerLoad | undefined;
  try {
    load = makeLoad(server, run.port, cert.cert);
    await delay(config.warmupMs);
    const steady: [number, number] = [load.elapsedMs(), 0];
    await delay(config.steadyMs);
    steady[1] = load.elapsedMs();
    const windows: Array<[number, number]> = [];
    const reports: Array<HandoffReport | undefined> = [];
    for (let i = 0; i < config.deploys; i++) {
      const from = load.elapsedMs();
      const reply = await sendTrigger(run.paths.trigger, 'handoff --stream').catch(() => undefined);
      reports.push(reply?.report as HandoffReport | undefined);
      windows.push([from, load.elapsedMs()]);
      if ((i + 1) % 10 === 0) say(`    ${i + 1}/${config.deploys} deploys`);
      await delay(config.pauseMs);
    }
    await load.stop();
    let lostAcked: ServerCellResult['lostAcked'];
    if (load instanceof WsLoad) {
      await run.stop(); // the log is complete once the last instance has stopped
      const logged = new Set(readFileSync(join(run.paths.data, 'messages.log'), 'utf8').split('\n'));
      lostAcked = { acked: load.acked.size, lost: [...load.acked].filter((id) => !logged.has(id)).length };
    }
    const clients = Object.fromEntries(load.stats);
    const totals = { sent: 0, ok: 0, retried: 0, failed: 0 };
    for (const s of load.stats.values()) {
      totals.sent += s.sent;
      totals.ok += s.ok;
      totals.retried += s.retried;
      totals.failed += s.failed;
    }
    const gaps = deployGapsMs(
      readAccepts(acceptLog),
      windows.map(([from]) => load!.toUnixMs(from)),
    ).filter((gap) => gap !== undefined);
    const committed = reports.filter((r) => r?.status === 'committed');
    return {
      server,
      wallMs: Math.round(performance.now() - startedMs),
      deploys: {
        attempted: reports.length,
        ok: committed.length,
        failures: reports.filter((r) => r?.status !== 'committed').map((r) => r?.reason ?? 'no report'),
      },
      clients,
      declines: Object.fromEntries(load.declines),
      totals,
      latencyMs: {
        steady: latency(within(load.samples, [steady]).map((s) => s.latencyMs)),
        duringDeploys: latency(
          within(
            load.samples,
            windows.map(([from, to]) => [from, to + config.duringTailMs]),
          ).map((s) => s.latencyMs),
        ),
      },
      triggerToDoneMs: spread(windows.map(([from, to]) => to - from)),
      drainMs: spread(committed.flatMap((r) => (r?.phases?.drainMs === undefined ? [] : [r.phases.drainMs]))),
      acceptGapMs: { count: gaps.length, ...spread(gaps) },
      ...(lostAcked && { lostAcked }),
    };
  } finally {
    await load?.stop();
    await run.stop();
  }
}

function within(samples: readonly Sample[], windows: ReadonlyArray<readonly [number, number]>): Sample[] {
  return samples.filter((s) => windows.some(([from, to]) => s.at >= from && s.at < to));
}

function spread(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    median: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

/** The Markdown table of a --server run. */
export function renderServerTables(cells: readonly ServerCellResult[]): string {
  const lines = [
    '| server | deploys ok | requests / messages | failed | retried (declined by the protocol) | acked messages lost | steady p50 / p99 / max (ms) | during deploys p50 / p99 / max (ms) | trigger → done median (ms) | drain median (ms) | accept gap median / max (ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    const s = c.latencyMs.steady;
    const d = c.latencyMs.duringDeploys;
    lines.push(
      `| ${c.server} | ${c.deploys.ok}/${c.deploys.attempted} | ${c.totals.sent} | ${c.totals.failed} | ${c.totals.retried} | ${c.lostAcked ? `${c.lostAcked.lost} of ${c.lostAcked.acked}` : '–'} | ${s.p50} / ${s.p99} / ${s.max} | ${d.p50} / ${d.p99} / ${d.max} | ${c.triggerToDoneMs.median} | ${c.drainMs.median} | ${c.acceptGapMs.count ? `${c.acceptGapMs.median} / ${c.acceptGapMs.max}` : '–'} |`,
    );
  }
  lines.push('');
  for (const c of cells) {
    const clients = Object.entries(c.clients)
      .map(([name, s]) => `${name} ${s.ok}/${s.sent}${s.retried ? ` (${s.retried} retried)` : ''}`)
      .join(', ');
    lines.push(`- ${c.server}: ${clients}`);
    const declines = Object.entries(c.declines).map(([why, n]) => `${why} ×${n}`);
    if (declines.length) lines.push(`  - declined, then sent again: ${declines.join(', ')}`);
    const errors = Object.values(c.clients).flatMap((s) =>
      Object.entries(s.errors).map(([e, n]) => `${e} ×${n}`),
    );
    if (errors.length) lines.push(`  - failures: ${errors.join(', ')}`);
    if (c.deploys.failures.length)
      lines.push(`  - failed deploys: ${c.deploys.failures.slice(0, 3).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}
