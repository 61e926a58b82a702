// `handoff run`: the long-lived supervisor. Binds every listener once (held for its whole life), cold-starts
// the daemon and keeps it running, performs one handoff at a time on SIGHUP or a trigger-socket line, and
// forwards SIGTERM/SIGINT to the daemon before exiting.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { HandoffError, isHandoffError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { closeFd, closeInheritedFds, listenTcp, listenUnix } from '../os.js';
import type { HandoffReport } from '../supervisor/report.js';
import type { SupervisedListener } from '../supervisor/spawn.js';
import { type HandoffOutcome, Supervisor } from '../supervisor/supervisor.js';
import type { HandoffConfig } from './config.js';
import { formatAddress } from './config.js';
import { DaemonKeeper } from './daemon-keeper.js';
import { probeIncumbent, waitForIncumbent } from './probe.js';
import { formatResultLine, parseTriggerRequest, readRequestLine } from './trigger.js';

/**
 * How long a committed handoff waits for the new build to answer on the control socket before replying
 * anyway (with a warning). It binds right after Ready, so this is normally a few ms; 5 s is the SPEC §4
 * Hello budget, the time any peer is given to answer a fresh control connection.
 */
const NEW_INCUMBENT_WAIT_MS = 5_000;

export interface RunningSupervisor {
  /** Resolves when the supervisor has shut down. */
  readonly done: Promise<void>;
  shutdown(): Promise<void>;
}

/** Starts the supervisor described by `config`. Resolves once the daemon is started and triggers are served. */
export async function runSupervisor(
  config: HandoffConfig,
  logger: Logger = createLogger('handoff', config.logLevel),
): Promise<RunningSupervisor> {
  // fds this process inherited without close-on-exec would leak into every daemon (DESIGN, known traps).
  const closed = closeInheritedFds([]);
  if (closed > 0) logger.info({ closed }, 'closed inherited fds');

  const bound = bindListeners(config, logger);
  const listeners = bound.map(({ name, fd }) => ({ name, fd }));
  const supervisor = new Supervisor({
    controlPath: config.controlSocket,
    listeners,
    ...(config.journal !== undefined && { journalPath: config.journal }),
    logger,
  });
  const found = await supervisor.resumeFromJournal().catch((error: unknown) => {
    logger.error({ err: error }, 'could not read the handoff journal');
    return undefined;
  });
  if (found)
    logger.warn(
      { handoffId: found.handoffId, phase: found.phase },
      'cleared the journal of an interrupted handoff',
    );

  const daemonSpec = { command: config.binary, args: config.args, env: config.env };
  const keeper = new DaemonKeeper(daemonSpec, listeners, config.restartBackoffMs, logger);

  const stats = { committed: 0, aborted: 0, failed: 0, startedAtUnixMs: Date.now() };
  let lastReport: HandoffReport | undefined;
  let inProgress = false;

  /** One handoff (a second one at the same time fails with HandoffInProgress); `onStep` streams progress. */
  const handoff = async (
    binary: string | undefined,
    onStep?: (step: string, elapsedMs: number) => void,
  ): Promise<HandoffOutcome> => {
    // Refuse before touching the keeper: a second handoff must not end the first one's bookkeeping.
    if (inProgress) throw new HandoffError('HandoffInProgress', 'another handoff is already in progress');
    keeper.beginHandoff();
    inProgress = true;
    const started = performance.now();
    let committedChild: ChildProcess | undefined;
    try {
      const outcome = await supervisor.performHandoff({
        command: binary ?? config.binary,
        args: config.args,
        env: config.env,
        deadlineMs: config.deadlineMs,
        drainGraceMs: config.drainGraceMs,
        allowUnhealthy: config.allowUnhealthy,
        verifyRevisions: config.verifyRevisions,
        onProgress: (step) => onStep?.(step, Math.round(performance.now() - started)),
      });
      if (outcome.status === 'committed') {
        stats.committed++;
        committedChild = outcome.child;
      } else {
        stats.aborted++;
      }
      logger.info({ report: outcome.report }, `handoff ${outcome.status}`);
      return outcome;
    } catch (error) {
      stats.failed++;
      logger.error({ err: error, report: supervisor.lastReport }, 'handoff failed');
      throw error;
    } finally {
      lastReport = supervisor.lastReport;
      inProgress = false;
      await keeper.endHandoff(committedChild, config.deadlineMs);
      // The handoff is done for whoever asked only once the next one can start: replying on Commit alone
      // let a trigger sent right after the reply find the old build's dead socket (ECONNREFUSED, measured
      // by the benchmark in about 1 of 3 back-to-back handoffs of the hello daemon).
      if (committedChild?.pid !== undefined) {
        const pid = committedChild.pid;
        if (!(await waitForIncumbent(config.controlSocket, pid, NEW_INCUMBENT_WAIT_MS))) {
          logger.warn(
            { pid, timeoutMs: NEW_INCUMBENT_WAIT_MS },
            'the committed daemon does not answer on the control socket yet',
          );
        }
      }
    }
  };

  const status = async () => {
    const current = keeper.current;
    const probe = current ? await probeIncumbent(config.controlSocket, 1000) : undefined;
    return {
      supervisorPid: process.pid,
      daemon: current && {
        pid: current.pid,
        buildId: probe?.buildId,
        controlSocketAnswers: probe !== undefined,
        startedAtUnixMs: current.startedAtUnixMs,
        uptimeMs: Date.now() - current.startedAtUnixMs,
      },
      handoffs: { committed: stats.committed, aborted: stats.aborted, failed: stats.failed, inProgress },
      restarts: keeper.restarts,
      listeners: bound.map(({ name, addr }) => ({ name, addr })),
      dataDir: config.dataDir,
      supervisorUptimeMs: Date.now() - stats.startedAtUnixMs,
      lastReport,
    };
  };

  const trigger = await serveTriggers(config.triggerSocket, logger, async (line, socket) => {
    const request = parseTriggerRequest(line);
    if ('error' in request) return void socket.end(`err: ${request.error}\n`);
    if (request.kind === 'status') return void socket.end(`status ${JSON.stringify(await status())}\n`);
    const stream = request.stream;
    try {
      const outcome = await handoff(
        request.binary,
        stream ? (step, ms) => socket.write(`progress ${step} ${ms}\n`) : undefined,
      );
      const reason = outcome.status === 'aborted' ? outcome.reason : undefined;
      socket.write(`${formatResultLine(outcome.handoffId, outcome.status === 'committed', reason)}\n`);
      if (stream) socket.write(`report ${JSON.stringify(outcome.report)}\n`);
    } catch (error) {
      socket.write(`err: ${isHandoffError(error) ? error.message : String(error)}\n`);
      if (stream && supervisor.lastReport) socket.write(`report ${JSON.stringify(supervisor.lastReport)}\n`);
    }
    socket.end();
  });

  // The daemon starts last, so a failure above leaves nothing running; a daemon that cannot start at all
  // is an error to report now, not a restart loop.
  try {
    await keeper.start();
  } catch (error) {
    trigger.close();
    rmSync(config.triggerSocket, { force: true });
    for (const listener of listeners) closeFd(listener.fd);
    throw error;
  }

  const onHup = () => {
    logger.info({ binary: config.binary }, 'SIGHUP: starting a handoff');
    handoff(undefined).catch(() => {});
  };
  process.on('SIGHUP', onHup);

  let finished: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      logger.info({}, 'shutting down');
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      trigger.close();
      rmSync(config.triggerSocket, { force: true });
      await keeper.stop(config.shutdownGraceMs);
      for (const listener of listeners) closeFd(listener.fd);
      for (const l of config.listeners) if (l.addr.kind === 'unix') rmSync(l.addr.path, { force: true });
      logger.info({}, 'stopped');
      finished();
    })();
    return stopping;
  };
  const onSignal = () => void shutdown();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  logger.info(
    { listeners: bound.map((l) => `${l.name}=${l.addr}`), trigger: config.triggerSocket },
    'supervisor running',
  );
  return { done, shutdown };
}

/**
 * Binds every configured listener through the native layer: held for the supervisor's life, never accepted
 * on. Returns each with the address actually bound (port 0 becomes the port the kernel chose).
 */
function bindListeners(config: HandoffConfig, logger: Logger): Array<SupervisedListener & { addr: string }> {
  return config.listeners.map(({ name, addr }) => {
    let fd: number;
    let bound: string;
    if (addr.kind === 'tcp') {
      const listener = listenTcp(addr.host, addr.port);
      fd = listener.fd;
      bound = formatAddress({ ...addr, port: listener.port });
    } else {
      rmSync(addr.path, { force: true });
      fd = listenUnix(addr.path, { mode: addr.mode });
      bound = formatAddress(addr);
    }
    logger.info({ listener: name, addr: bound, fd }, 'listening');
    return { name, fd, addr: bound };
  });
}

/** Serves the trigger socket (mode 0600): one request line per connection. */
async function serveTriggers(
  path: string,
  logger: Logger,
  handle: (line: string, socket: Socket) => Promise<void>,
): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  // Half-open: the client ends its side right after the request line, and the reply may come much later.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    readRequestLine(socket)
      .then((line) => handle(line, socket))
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'trigger request failed');
        socket.destroy();
      });
  });
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen({ fd: listenUnix(path, { mode: 0o600 }) }, resolve),
  );
  return server;
}
