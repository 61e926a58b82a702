// One benchmark cell: a daemon kind deployed one way under sustained load — warm up, measure the steady
// state, perform N deploys, then read every acknowledged write back (from the daemon, then from the log on
// disk) and collect failures, latency, deploy times, accept gaps, kernel counters and supervisor cost.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Store } from '../examples/kv/store.js';
import { DemoLoad, type LoadProfile, type Sample } from '../scripts/demo-load.js';
import { latency, percentile } from '../scripts/demo-report.js';
import { deployGapsMs, readAccepts } from './accept-gap.js';
import { type ProcessSample, readListenCounters, sampleProcess } from './proc.js';
import { startWithHandoff } from './ways/handoff.js';
import { startWithPm2 } from './ways/pm2.js';
import { startWithRestart } from './ways/restart.js';
import type { DaemonKind, Deployment, DeployOutcome, WayName, WaySetup } from './ways/way.js';

export interface CellConfig {
  readonly deploys: number;
  /** Load before measuring anything (JIT warm-up, first connections). */
  readonly warmupMs: number;
  /** The steady-state window, before the first deploy. */
  readonly steadyMs: number;
  /** Pause after each deploy before the next one. */
  readonly pauseMs: number;
  /** Requests sent up to this long after a deploy finished still count as "during" it. */
  readonly duringTailMs: number;
  readonly requestTimeoutMs: number;
  readonly pauseAfterFailureMs: number;
  readonly runDir: string;
  readonly pm2Home: string;
}

export const LOAD_PROFILES: Readonly<Record<DaemonKind, LoadProfile>> = {
  kv: { keepAliveWriters: 2, keepAliveReaders: 2, freshWriters: 1, freshReaders: 1 },
  hello: { keepAliveWriters: 0, keepAliveReaders: 4, freshWriters: 0, freshReaders: 2 },
};

type Summary = ReturnType<typeof latency>;

export interface CellResult {
  readonly kind: DaemonKind;
  readonly way: WayName;
  readonly wallMs: number;
  readonly deploys: { attempted: number; ok: number; failures: string[] };
  readonly requests: {
    sent: number;
    failed: number;
    failedPer1000Deploys: number;
    errors: Record<string, number>;
    steadyPerSecond: number;
  };
  readonly latencyMs: {
    steady: Summary;
    duringDeploys: Summary;
    /**
     * handoff only: requests sent while the new build started up and prepared (trigger → its Hello, the
     * old build serving), and from then until the deploy was done (drain, seal, the accept gap, Ready).
     */
    whileStarting?: Summary;
    acrossSwitch?: Summary;
  };
  readonly triggerToDoneMs: { median: number; p99: number; max: number; all: number[] };
  /** handoff only: medians of the supervisor's phases. */
  readonly phasesMedianMs?: Record<string, number>;
  readonly acceptGapMs: {
    count: number;
    median: number;
    p99: number;
    min: number;
    max: number;
    all: number[];
  };
  readonly kernel: { listenOverflows: number; listenDrops: number };
  readonly writes?: {
    acked: number;
    lostServed: number;
    lostOnDisk: number;
    wrongReads: number;
    diskNote?: string;
  };
  readonly supervisor?: {
    before: ProcessSample;
    after: ProcessSample;
    cpuMsPerDeploy: number;
  };
}

/** What the picture needs, kept out of the JSON. */
export interface CellSeries {
  readonly samples: readonly Sample[];
  /** [trigger, done] of each deploy, in load time (ms). */
  readonly deploys: ReadonlyArray<readonly [number, number]>;
  readonly endMs: number;
}

/** What a cell may change beyond its kind and way (the data-size cells). */
export interface CellOptions {
  /** Its directory's name under the run dir. Default: `<kind>-<way>`. */
  readonly name?: string;
  readonly setup?: Pick<WaySetup, 'daemonArgs' | 'startTimeoutMs' | 'defaultBudgets'>;
  /** Fills the data dir before the daemon starts. */
  readonly seed?: (dataDir: string) => void;
}

export async function runCell(
  kind: DaemonKind,
  way: WayName,
  config: CellConfig,
  say: (line: string) => void,
  options: CellOptions = {},
): Promise<{ result: CellResult; series: CellSeries }> {
  const startedMs = performance.now();
  const dir = join(config.runDir, options.name ?? `${kind}-${way.replace(/\W+/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const setup: WaySetup = {
    kind,
    dir,
    acceptLog: join(dir, 'accepts.log'),
    dataDir: join(dir, 'data'),
    ...options.setup,
  };
  options.seed?.(setup.dataDir);
  const kernelBefore = readListenCounters();
  const deployment = await start(way, setup, config);
  let load: DemoLoad | undefined;
  try {
    load = new DemoLoad(deployment.port, {
      requestTimeoutMs: config.requestTimeoutMs,
      pauseAfterFailureMs: config.pauseAfterFailureMs,
    });
    load.start(LOAD_PROFILES[kind]);
    await delay(config.warmupMs);
    const steady: [number, number] = [load.elapsedMs(), 0];
    await delay(config.steadyMs);
    steady[1] = load.elapsedMs();
    const supBefore = sample(deployment.supervisorPid);

    const windows: Array<[number, number]> = [];
    const outcomes: DeployOutcome[] = [];
    for (let i = 0; i < config.deploys; i++) {
      const from = load.elapsedMs();
      outcomes.push(await deployment.deploy());
      windows.push([from, load.elapsedMs()]);
      if ((i + 1) % 25 === 0) say(`    ${i + 1}/${config.deploys} deploys`);
      await delay(config.pauseMs);
    }
    const supAfter = sample(deployment.supervisorPid);
    await load.stop();
    const lostServed = kind === 'kv' ? (await load.verify()).length : 0;
    const endMs = load.elapsedMs();
    const kernelAfter = readListenCounters();
    await deployment.stop();
    const disk = kind === 'kv' ? await lostOnDisk(setup.dataDir, load.acked) : undefined;

    const triggerToDone = windows.map(([from, to]) => round(to - from));
    const gapsOrNot = deployGapsMs(
      readAccepts(setup.acceptLog),
      windows.map(([from]) => load!.toUnixMs(from)),
    );
    const gaps = gapsOrNot.filter((gap) => gap !== undefined);
    const totals = [...load.stats.values()].reduce(
      (t, s) => {
        for (const [reason, n] of Object.entries(s.errors)) t.errors[reason] = (t.errors[reason] ?? 0) + n;
        return { sent: t.sent + s.sent, failed: t.failed + s.failed, errors: t.errors };
      },
      { sent: 0, failed: 0, errors: {} as Record<string, number> },
    );
    const { steadySamples, duringSamples } = split(load.samples, steady, windows, config.duringTailMs);
    const result: CellResult = {
      kind,
      way,
      wallMs: Math.round(performance.now() - startedMs),
      deploys: {
        attempted: outcomes.length,
        ok: outcomes.filter((o) => o.ok).length,
        failures: outcomes.filter((o) => !o.ok).map((o) => o.detail ?? 'failed'),
      },
      requests: {
        ...totals,
        failedPer1000Deploys: outcomes.length ? round((totals.failed * 1000) / outcomes.length) : 0,
        steadyPerSecond: Math.round((steadySamples.length * 1000) / (steady[1] - steady[0])),
      },
      latencyMs: {
        steady: latency(steadySamples.map((s) => s.latencyMs)),
        duringDeploys: latency(duringSamples.map((s) => s.latencyMs)),
        ...(way === 'handoff' && splitAtHello(duringSamples, windows, outcomes, config.duringTailMs)),
      },
      triggerToDoneMs: { ...spread(triggerToDone), all: triggerToDone },
      ...(way === 'handoff' && { phasesMedianMs: phaseMedians(outcomes) }),
      acceptGapMs: {
        count: gaps.length,
        ...spread(gaps),
        min: gaps.length ? Math.min(...gaps) : 0,
        all: gaps,
      },
      kernel: {
        listenOverflows: kernelAfter.listenOverflows - kernelBefore.listenOverflows,
        listenDrops: kernelAfter.listenDrops - kernelBefore.listenDrops,
      },
      ...(kind === 'kv' && {
        writes: {
          acked: load.acked.size,
          lostServed,
          lostOnDisk: disk!.lost,
          wrongReads: load.wrongReads,
          ...(disk!.note !== undefined && { diskNote: disk!.note }),
        },
      }),
      ...(supBefore &&
        supAfter && {
          supervisor: {
            before: supBefore,
            after: supAfter,
            cpuMsPerDeploy: round((supAfter.cpuMs - supBefore.cpuMs) / Math.max(1, outcomes.length)),
          },
        }),
    };
    return { result, series: { samples: load.samples, deploys: windows, endMs } };
  } finally {
    await load?.stop();
    await deployment.stop();
  }
}

function start(way: WayName, setup: WaySetup, config: CellConfig): Promise<Deployment> {
  switch (way) {
    case 'handoff':
      return startWithHandoff(setup);
    case 'pm2 reload':
      return startWithPm2(setup, config.pm2Home);
    case 'kill-and-restart':
      return startWithRestart(setup);
  }
}

function sample(pid: number | undefined): ProcessSample | undefined {
  return pid === undefined ? undefined : sampleProcess(pid);
}

/** Steady samples (sent in the steady window) and deploy samples (sent during a deploy or its tail). */
function split(
  samples: readonly Sample[],
  steady: readonly [number, number],
  windows: ReadonlyArray<readonly [number, number]>,
  tailMs: number,
) {
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  const steadySamples = sorted.filter((s) => s.at >= steady[0] && s.at < steady[1]);
  const duringSamples: Sample[] = [];
  let w = 0;
  for (const s of sorted) {
    while (w < windows.length && s.at > windows[w]![1] + tailMs) w++;
    if (w < windows.length && s.at >= windows[w]![0]) duringSamples.push(s);
  }
  return { steadySamples, duringSamples };
}

/** Reopens the log as a restarted daemon would and counts the acknowledged writes it does not hold. */
async function lostOnDisk(
  dataDir: string,
  acked: ReadonlyMap<string, string>,
): Promise<{ lost: number; note?: string }> {
  let store: Store;
  try {
    store = await Store.open(dataDir);
  } catch (error) {
    return { lost: acked.size, note: `the log does not open: ${(error as Error).message}` };
  }
  let lost = 0;
  for (const [key, value] of acked) if (store.get(key)?.toString('utf8') !== value) lost++;
  const { truncatedBytes } = store.opened;
  await store.close();
  return { lost, ...(truncatedBytes > 0 && { note: `opening cut ${truncatedBytes} bytes of torn tail` }) };
}

/** The deploy samples of handoffs, split at each successor's Hello (see CellResult.latencyMs). */
function splitAtHello(
  samples: readonly Sample[],
  windows: ReadonlyArray<readonly [number, number]>,
  outcomes: readonly DeployOutcome[],
  tailMs: number,
): { whileStarting: Summary; acrossSwitch: Summary } {
  const starting: number[] = [];
  const switching: number[] = [];
  for (const s of samples) {
    const i = windows.findIndex(([from, to]) => s.at >= from && s.at <= to + tailMs);
    if (i < 0) continue;
    const phases = outcomes[i]?.phases;
    const helloAt = windows[i]![0] + (phases?.helloMs ?? 0) + (phases?.spawnToHelloMs ?? 0);
    (s.at < helloAt ? starting : switching).push(s.latencyMs);
  }
  return { whileStarting: latency(starting), acrossSwitch: latency(switching) };
}

function phaseMedians(outcomes: readonly DeployOutcome[]): Record<string, number> {
  const phases = ['spawnToHelloMs', 'drainMs', 'sealMs', 'beginToReadyMs', 'totalMs'] as const;
  return Object.fromEntries(
    phases.map((phase) => {
      const values = outcomes.flatMap((o) => (o.phases?.[phase] === undefined ? [] : [o.phases[phase]]));
      return [phase, spread(values).median];
    }),
  );
}

function spread(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
