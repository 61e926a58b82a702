// Prometheus metrics of `handoff run` (docs/operations.md, "Metrics"), served at http://<metrics_addr>/metrics
// with prom-client, which is loaded only when metrics_addr is set. Every metric name is defined here, once.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as PromClient from 'prom-client';
import { ERROR_CODES, ioError } from '../errors.js';
import type { Logger } from '../log.js';
import { acceptGapEstimateMs, type HandoffReport, ROLLBACK_KINDS } from '../supervisor/report.js';
import type { FallBackRecord } from './history.js';

/** The metric names (Prometheus conventions: a unit suffix, `_total` for counters). */
export const MetricName = Object.freeze({
  HANDOFFS_TOTAL: 'handoff_handoffs_total',
  ROLLED_BACK_TOTAL: 'handoff_rolled_back_total',
  FAILURES_TOTAL: 'handoff_failures_total',
  SEAL_FAILURES_TOTAL: 'handoff_seal_failures_total',
  DURATION_SECONDS: 'handoff_duration_seconds',
  SPAWN_TO_HELLO_SECONDS: 'handoff_spawn_to_hello_seconds',
  DRAIN_SECONDS: 'handoff_drain_seconds',
  SEAL_SECONDS: 'handoff_seal_seconds',
  BEGIN_TO_READY_SECONDS: 'handoff_begin_to_ready_seconds',
  ACCEPT_GAP_SECONDS: 'handoff_accept_gap_seconds',
  FALL_BACKS_TOTAL: 'handoff_fall_backs_total',
  DAEMON_RESTARTS_TOTAL: 'handoff_daemon_restarts_total',
  SERVING_BUILD_INFO: 'handoff_serving_build_info',
  SERVING_BUILD_START_TIME_SECONDS: 'handoff_serving_build_start_time_seconds',
  PROBATION_ACTIVE: 'handoff_probation_active',
} as const);

/** `outcome` label values of handoff_handoffs_total. */
const OUTCOMES = ['committed', 'rolled_back', 'failed'] as const;
/** The error codes a failed handoff usually has (any HandoffError code may appear). */
const USUAL_FAILURE_CODES = ['Io', 'Protocol', 'Timeout', 'Aborted'] as const;
const FALL_BACK_LABELS = [
  ['exited', 'cold_start'],
  ['probe_failed', 'handoff'],
  ['probe_failed', 'cold_start'],
] as const;

/**
 * Handoff phases last from about a millisecond (a hello) to the 60 s default deadline; the buckets cover that
 * range at roughly ×2.5 steps.
 */
const DURATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the metrics read from the supervisor at each scrape. */
export interface MetricsSource {
  /** Crash restarts so far. */
  restarts(): number;
  serving():
    | { pid: number; buildId: string | undefined; binary: string; startedAtUnixMs: number }
    | undefined;
  probationActive(): boolean;
}

export interface SupervisorMetrics {
  /** The address actually bound (port 0 becomes the kernel's choice). */
  readonly addr: string;
  /** Counts one finished handoff and observes its phases. */
  handoff(report: HandoffReport): void;
  fallBack(record: FallBackRecord): void;
  /** Stops serving (open scrapes are cut). */
  close(): void;
}

/**
 * Loads prom-client, registers the supervisor's metrics and the process's, and serves them on
 * `addr`. Throws `Io` naming metrics_addr when it cannot listen there.
 */
export async function serveMetrics(
  addr: { readonly host: string; readonly port: number },
  source: MetricsSource,
  logger: Logger,
): Promise<SupervisorMetrics> {
  const client = await import('prom-client');
  const registry = new client.Registry();
  const metrics = registerMetrics(client, registry, source);
  client.collectDefaultMetrics({ register: registry });

  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: scrape /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        logger.warn({ err: error }, 'could not collect the metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen({ host: addr.host, port: addr.port }, resolve);
  }).catch((error: unknown) => {
    throw ioError(`cannot serve metrics on metrics_addr ${addr.host}:${addr.port}`, error);
  });
  const port = (server.address() as AddressInfo).port;
  const bound = addr.host.includes(':') ? `[${addr.host}]:${port}` : `${addr.host}:${port}`;
  logger.info({ metrics: `http://${bound}/metrics` }, 'serving metrics');
  return { addr: bound, ...metrics, close: () => closeServer(server) };
}

function closeServer(server: Server): void {
  server.close();
  server.closeAllConnections();
}

function registerMetrics(
  client: typeof PromClient,
  registry: PromClient.Registry,
  source: MetricsSource,
): Pick<SupervisorMetrics, 'handoff' | 'fallBack'> {
  const registers = [registry];
  const handoffs = new client.Counter({
    name: MetricName.HANDOFFS_TOTAL,
    help: 'Handoffs by outcome: committed, rolled_back (the old build serves on) or failed (not carried out).',
    labelNames: ['outcome'],
    registers,
  });
  const rolledBack = new client.Counter({
    name: MetricName.ROLLED_BACK_TOTAL,
    help: `Rolled-back handoffs by the kind of their reason (${ROLLBACK_KINDS.join(', ')}).`,
    labelNames: ['reason'],
    registers,
  });
  const failures = new client.Counter({
    name: MetricName.FAILURES_TOTAL,
    help: 'Handoffs that could not be carried out, by error code.',
    labelNames: ['code'],
    registers,
  });
  const sealFailures = new client.Counter({
    name: MetricName.SEAL_FAILURES_TOTAL,
    help: "Handoffs rolled back because the old build's seal failed (it kept its data and serves on).",
    registers,
  });
  const histogram = (name: string, help: string) =>
    new client.Histogram({ name, help, buckets: DURATION_BUCKETS_SECONDS, registers });
  const phases = {
    totalMs: histogram(MetricName.DURATION_SECONDS, 'Duration of each handoff, whatever its outcome.'),
    spawnToHelloMs: histogram(
      MetricName.SPAWN_TO_HELLO_SECONDS,
      'From spawning the new build to its Hello: its start-up (the old build serves meanwhile).',
    ),
    drainMs: histogram(MetricName.DRAIN_SECONDS, 'PrepareHandoff until Drained.'),
    sealMs: histogram(MetricName.SEAL_SECONDS, 'SealRequest until SealComplete.'),
    beginToReadyMs: histogram(
      MetricName.BEGIN_TO_READY_SECONDS,
      'Begin until Ready: nobody accepts meanwhile.',
    ),
  } as const;
  const acceptGap = histogram(
    MetricName.ACCEPT_GAP_SECONDS,
    'Estimated time no build accepted connections in a committed handoff (drain + seal + begin→ready, an ' +
      'upper bound: connections wait in the accept queue meanwhile).',
  );
  const fallBacks = new client.Counter({
    name: MetricName.FALL_BACKS_TOTAL,
    help: 'Probation failures that fell back to the previous build, by cause (exited, probe_failed) and how.',
    labelNames: ['cause', 'how'],
    registers,
  });
  let restartsCounted = 0;
  new client.Counter({
    name: MetricName.DAEMON_RESTARTS_TOTAL,
    help: 'Restarts of a daemon that died outside a handoff.',
    registers,
    collect() {
      // The keeper counts (the count only grows); the counter catches up at each scrape.
      const restarts = source.restarts();
      if (restarts > restartsCounted) this.inc(restarts - restartsCounted);
      restartsCounted = Math.max(restartsCounted, restarts);
    },
  });
  new client.Gauge({
    name: MetricName.SERVING_BUILD_INFO,
    help: 'The serving build: always 1, with its pid, build id and binary as labels.',
    labelNames: ['pid', 'build_id', 'binary'],
    registers,
    collect() {
      this.reset();
      const serving = source.serving();
      if (serving) {
        this.set({ pid: serving.pid, build_id: serving.buildId ?? '', binary: serving.binary }, 1);
      }
    },
  });
  new client.Gauge({
    name: MetricName.SERVING_BUILD_START_TIME_SECONDS,
    help: 'When the serving build started serving, in seconds since the Unix epoch.',
    registers,
    collect() {
      this.reset();
      const serving = source.serving();
      if (serving) this.set(serving.startedAtUnixMs / 1000);
    },
  });
  new client.Gauge({
    name: MetricName.PROBATION_ACTIVE,
    help: '1 while a newly committed build is on probation.',
    registers,
    collect() {
      this.set(source.probationActive() ? 1 : 0);
    },
  });
  // The label values that can occur are shown from the start (at 0), so a rate() sees the first increase.
  for (const outcome of OUTCOMES) handoffs.inc({ outcome }, 0);
  for (const reason of ROLLBACK_KINDS) rolledBack.inc({ reason }, 0);
  for (const code of USUAL_FAILURE_CODES) failures.inc({ code }, 0);
  // A build that is already dead cannot be handed off: no (exited, handoff).
  for (const [cause, how] of FALL_BACK_LABELS) fallBacks.inc({ cause, how }, 0);
  sealFailures.inc(0);

  return {
    handoff(report) {
      const outcome =
        report.status === 'committed'
          ? 'committed'
          : report.status === 'rolled back'
            ? 'rolled_back'
            : 'failed';
      handoffs.inc({ outcome });
      if (outcome === 'rolled_back') {
        const kind = (ROLLBACK_KINDS as readonly string[]).includes(report.reasonKind ?? '')
          ? report.reasonKind
          : 'successor_failed';
        rolledBack.inc({ reason: kind });
        if (kind === 'seal_failed') sealFailures.inc();
      }
      if (outcome === 'failed') {
        const code = (ERROR_CODES as readonly string[]).includes(report.reasonKind ?? '')
          ? report.reasonKind
          : 'Io';
        failures.inc({ code });
      }
      for (const [phase, histogramOf] of Object.entries(phases)) {
        const ms = report.phases[phase as keyof typeof phases];
        if (ms !== undefined) histogramOf.observe(ms / 1000);
      }
      const gapMs = acceptGapEstimateMs(report);
      if (gapMs !== undefined) acceptGap.observe(gapMs / 1000);
    },
    fallBack(record) {
      fallBacks.inc({ cause: record.cause, how: record.how === 'cold start' ? 'cold_start' : 'handoff' });
    },
  };
}
