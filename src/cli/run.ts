// `handoff run`: the long-lived supervisor. Takes its own lock, binds every listener once (held for its whole
// life), cold-starts the daemon and keeps it running, performs one handoff at a time on SIGHUP or a trigger-
// socket line, and on SIGTERM/SIGINT stops everything it started, whatever phase a handoff is in, within
// shutdown_grace_secs. It never removes a path it did not create.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ioError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { closeFd, closeInheritedFds, listenTcp, listenUnix } from '../os.js';
import type { SupervisedListener } from '../supervisor/spawn.js';
import { Supervisor } from '../supervisor/supervisor.js';
import type { HandoffConfig } from './config.js';
import { formatAddress } from './config.js';
import { DaemonKeeper } from './daemon-keeper.js';
import { Handoffs } from './handoffs.js';
import { HandoffHistory, historyPath } from './history.js';
import { serveMetrics } from './metrics.js';
import { SignalRouter, type StopSignal } from './signals.js';
import { claimSocketPath, inodeAt, removeOwnSocket } from './socket-paths.js';
import { SupervisorLock, supervisorLockPath } from './supervisor-lock.js';
import { TriggerRequests } from './trigger-requests.js';
import { serveTriggers } from './trigger-server.js';

export interface RunningSupervisor {
  /** Resolves when the supervisor has shut down. */
  readonly done: Promise<void>;
  shutdown(): Promise<void>;
}

export interface RunOptions {
  readonly logger?: Logger;
  /** Signals caught since the process began (the `handoff` bin installs this first thing). */
  readonly signals?: SignalRouter;
}

/** A listener as bound: the fd handed to every instance, and the address actually bound. */
type BoundListener = SupervisedListener & {
  readonly addr: string;
  readonly path?: string;
  readonly ino?: number;
};

/**
 * Starts the supervisor described by `config`. Resolves once the daemon answers and triggers are served;
 * rejects (having undone everything) when the supervisor cannot start: another one holds its lock, a
 * listener cannot be bound, the daemon cannot be executed.
 */
export async function runSupervisor(
  config: HandoffConfig,
  options: RunOptions = {},
): Promise<RunningSupervisor> {
  const logger = options.logger ?? createLogger('handoff', config.logLevel);
  const signals = options.signals ?? new SignalRouter().install();
  // Our stderr may be a pipe to a log collector that went away: losing lines is fine, dying of EPIPE is not.
  process.stderr.on('error', () => {});
  // Undone in reverse order on a failed start-up and at shutdown; each entry runs once.
  const cleanups: Array<() => void> = [];
  const undo = () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch (error) {
        logger.warn({ err: error }, 'cleanup step failed');
      }
    }
  };

  let keeper: DaemonKeeper | undefined;
  let handoffs: Handoffs | undefined;
  let stopRequested = false;
  let startup: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const shutdown = (signal?: StopSignal): Promise<void> => {
    stopRequested = true;
    stopping ??= (async () => {
      const deadline = Date.now() + config.shutdownGraceMs;
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
      // First no new handoff, and the one in flight interrupted: it rolls back before Ready, or commits;
      // either way the keeper then knows every daemon of ours, and stops them all. A start-up still in
      // progress stops at its next step (the keeper's stop also ends its wait for the first daemon).
      await handoffs?.stop(`the supervisor is stopping${signal ? ` (${signal})` : ''}`);
      await keeper?.stop(deadline);
      await startup.catch(() => {});
      await keeper?.stop(deadline);
      undo();
      signals.uninstall();
      logger.info({}, 'stopped');
      finished();
    })();
    return stopping;
  };
  /** Between start-up steps: a stop requested meanwhile ends the start-up (shutdown undoes what exists). */
  const step = () => {
    if (stopRequested) throw new StartupInterrupted();
  };

  startup = (async () => {
    // fds this process inherited without close-on-exec would leak into every daemon.
    const closed = closeInheritedFds([]);
    if (closed > 0) logger.info({ closed }, 'closed inherited fds');

    // One supervisor per config, before any path is touched.
    mkdirPrivate(dirname(config.triggerSocket));
    const lock = SupervisorLock.acquire(supervisorLockPath(config.triggerSocket));
    cleanups.push(() => lock.release());

    const bound = await bindListeners(config, logger, cleanups);
    step();
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
    if (found) {
      logger.warn(
        { handoffId: found.handoffId, phase: found.phase },
        'cleared the journal of an interrupted handoff',
      );
    }
    step();

    const kept = new DaemonKeeper(
      { command: config.binary, args: config.args, env: config.env },
      {
        listeners,
        controlPath: config.controlSocket,
        restartBackoffMs: config.restartBackoffMs,
        startTimeoutMs: config.startTimeoutMs,
        maxRestarts: config.maxRestarts,
        restartWindowMs: config.restartWindowMs,
        logger,
      },
    );
    keeper = kept;
    const history = await HandoffHistory.open({
      size: config.historySize,
      ...(config.journal !== undefined && { path: historyPath(config.journal) }),
      logger,
    });
    cleanups.push(() => void history.close());
    const triggers = new Handoffs(config, supervisor, kept, history, logger);
    if (config.metricsAddr) {
      // Loaded only now: a supervisor without metrics_addr never pays for the metrics library.
      const metrics = await serveMetrics(
        config.metricsAddr,
        {
          restarts: () => kept.restarts,
          serving: () => {
            const current = kept.current;
            return (
              current && {
                pid: current.pid,
                buildId: current.buildId,
                binary: current.build.command,
                startedAtUnixMs: current.startedAtUnixMs,
              }
            );
          },
          probationActive: () => triggers.probation !== undefined,
        },
        logger,
      );
      cleanups.push(() => metrics.close());
      triggers.observe(metrics);
      step();
    }
    const requests = new TriggerRequests(config, triggers, kept, bound, logger);
    const trigger = await serveTriggers(config.triggerSocket, logger, (line, socket) =>
      requests.serve(line, socket),
    );
    cleanups.push(() => {
      trigger.server.close();
      removeOwnSocket(config.triggerSocket, trigger.ino);
    });
    step();

    // The daemon starts last, so a failure above leaves nothing running; a daemon that cannot be executed
    // at all is an error to report now, not a restart loop.
    await kept.start();
    step();
    handoffs = triggers;
  })();
  // Signals caught so far are delivered now that the start-up is under way (and can be interrupted).
  signals.route({
    stop: (signal) => {
      if (!stopping) return void shutdown(signal);
      // A second stop signal: no more grace.
      logger.warn({ signal }, 'second stop signal: killing every daemon now');
      void keeper?.killAll();
    },
    hangup: () => {
      if (!handoffs || stopping) logger.warn({}, 'SIGHUP ignored: the supervisor is starting or stopping');
      else handoffs.hangup();
    },
  });

  try {
    await startup;
  } catch (error) {
    if (error instanceof StartupInterrupted) return { done, shutdown: () => shutdown() };
    await keeper?.stop(Date.now());
    undo();
    signals.uninstall();
    throw error;
  }
  logger.info({ trigger: config.triggerSocket, pid: process.pid }, 'supervisor running');
  return { done, shutdown: () => shutdown() };
}

/** A stop signal arrived during start-up: not a failure; the shutdown in progress undoes what was done. */
class StartupInterrupted extends Error {}

/**
 * Binds every configured listener through the native layer: held for the supervisor's life, never accepted
 * on. Returns each with the address actually bound (port 0 becomes the port the kernel chose). Each fd (and
 * each socket file we create) is registered for cleanup the moment it exists.
 */
async function bindListeners(
  config: HandoffConfig,
  logger: Logger,
  cleanups: Array<() => void>,
): Promise<BoundListener[]> {
  const bound: BoundListener[] = [];
  for (const { name, addr } of config.listeners) {
    let listener: BoundListener;
    if (addr.kind === 'tcp') {
      const { fd, port } = listenTcp(addr.host, addr.port);
      listener = { name, fd, addr: formatAddress({ ...addr, port }) };
    } else {
      await claimSocketPath(addr.path, `listener ${name}`);
      const fd = listenUnix(addr.path, { mode: addr.mode });
      listener = { name, fd, addr: formatAddress(addr), path: addr.path, ino: inodeAt(addr.path) };
    }
    cleanups.push(() => {
      closeFd(listener.fd);
      if (listener.path !== undefined) removeOwnSocket(listener.path, listener.ino);
    });
    logger.info({ listener: name, addr: listener.addr, fd: listener.fd }, 'listening');
    bound.push(listener);
  }
  return bound;
}

function mkdirPrivate(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ioError(`cannot create the directory ${dir}`, error, { path: dir });
  }
}
