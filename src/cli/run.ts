// `handoff run`: the long-lived supervisor. Takes its own lock, holds every listener for its whole life
// (from systemd, from a daemon a dead supervisor left serving — adopted — or bound here), cold-starts the
// daemon and keeps it running, performs one handoff at a time on SIGHUP or a trigger-socket line, and on
// SIGTERM/SIGINT stops everything it started, whatever phase a handoff is in, within shutdown_grace_secs.
// It never removes a path it did not create.

import { dirname } from 'node:path';
import { createLogger, type Logger } from '../log.js';
import { closeInheritedFds, pidfdOpen } from '../os.js';
import { checkDirectory, ensurePrivateDirectory } from '../safe-path.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { findLiveDaemon } from './adopt.js';
import type { HandoffConfig } from './config.js';
import { DaemonKeeper } from './daemon-keeper.js';
import { adoptedDaemon } from './daemon-process.js';
import { Handoffs } from './handoffs.js';
import { HandoffHistory, historyPath } from './history.js';
import { acquireListeners, systemdListeners } from './listeners.js';
import { supervisorLogOptions } from './log-options.js';
import { serveMetrics } from './metrics.js';
import { SdNotify, servingStatus } from './sd-notify.js';
import { readServingBuild, recordServingBuild, servingBuildPath } from './serving-build.js';
import { SignalRouter, type StopSignal } from './signals.js';
import { removeOwnSocket } from './socket-paths.js';
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

/**
 * Starts the supervisor described by `config`. Resolves once the daemon answers and triggers are served;
 * rejects (having undone everything) when the supervisor cannot start: another one holds its lock, a
 * listener cannot be bound, the daemon cannot be executed.
 */
export async function runSupervisor(
  config: HandoffConfig,
  options: RunOptions = {},
): Promise<RunningSupervisor> {
  const logger = options.logger ?? createLogger('handoff', supervisorLogOptions(config));
  const signals = options.signals ?? new SignalRouter().install();
  // Under systemd (Type=notify): READY, RELOADING around handoffs, STOPPING, the watchdog, the fd store.
  const notify = SdNotify.fromEnv(process.env, logger);
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
  /** Resolved once the start-up is complete; trigger requests for a handoff wait for it. */
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
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
      notify?.stopping();
      notify?.stopWatchdog();
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
    // fds this process inherited without close-on-exec would leak into every daemon, except the listeners
    // systemd passed (socket activation, or its fd store after a restart of ours).
    const fromSystemd = systemdListeners();
    const closed = closeInheritedFds([...fromSystemd.values()]);
    if (closed > 0) logger.info({ closed }, 'closed inherited fds');

    // One supervisor per config, before any path is touched; and only in directories other users cannot
    // tamper with (UnsafePath names the first one that fails, and the fix).
    ensurePrivateDirectory(dirname(config.triggerSocket), 'directory of the trigger socket');
    const lock = SupervisorLock.acquire(supervisorLockPath(config.triggerSocket));
    cleanups.push(() => lock.release());
    ensurePrivateDirectory(dirname(config.controlSocket), 'directory of the control socket');
    if (config.journal !== undefined) ensurePrivateDirectory(dirname(config.journal), 'journal directory');
    if (config.dataDir !== undefined) checkDirectory(config.dataDir, 'data dir');

    // systemd's listeners, or a live daemon's (a supervisor of this config died: adopt its daemon), or new.
    const { bound, adopted } = await acquireListeners(config, fromSystemd, logger, cleanups);
    step();
    const listeners = bound.map(({ name, fd }) => ({ name, fd }));
    notify?.storeListeners(listeners);
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

    const configured = { command: config.binary, args: config.args, env: config.env };
    const servingRecord = servingBuildPath(config.triggerSocket);
    const kept = new DaemonKeeper(configured, {
      listeners,
      controlPath: config.controlSocket,
      restartBackoffMs: config.restartBackoffMs,
      startTimeoutMs: config.startTimeoutMs,
      maxRestarts: config.maxRestarts,
      restartWindowMs: config.restartWindowMs,
      logger,
      onServing: (pid, build) => void recordServingBuild(servingRecord, pid, build, logger),
      findServing: async () => {
        const live = await findLiveDaemon(config.controlSocket);
        if (!live) return undefined;
        const build = await readServingBuild(servingRecord, live.pid);
        return { daemon: adoptedDaemon(live.pid, pidfdOpen(live.pid)), ...(build && { build }) };
      },
    });
    keeper = kept;
    const history = await HandoffHistory.open({
      size: config.historySize,
      ...(config.journal !== undefined && { path: historyPath(config.journal) }),
      logger,
    });
    cleanups.push(() => void history.close());
    const triggers = new Handoffs(config, supervisor, kept, history, logger, notify);
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
    const requests = new TriggerRequests(config, triggers, kept, bound, logger, started);
    const trigger = await serveTriggers(config.triggerSocket, logger, (line, socket) =>
      requests.serve(line, socket),
    );
    cleanups.push(() => {
      trigger.server.close();
      removeOwnSocket(config.triggerSocket, trigger.ino);
    });
    step();

    // The daemon starts last, so a failure above leaves nothing running; a daemon that cannot be executed
    // at all is an error to report now, not a restart loop. A daemon that still serves is adopted as it is.
    if (adopted) {
      const build = (await readServingBuild(servingRecord, adopted.daemon.pid)) ?? configured;
      kept.adopt(adoptedDaemon(adopted.daemon.pid, adopted.takePidfd()), build);
    } else {
      await kept.start();
    }
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
  logger.info({ trigger: config.triggerSocket }, 'supervisor running');
  notify?.ready(servingStatus(keeper?.current?.pid));
  notify?.startWatchdog();
  // Only now may a trigger's handoff run: one that arrived during the start-up would have raced it, and
  // under systemd sent RELOADING=1 before READY=1 (seen in CI).
  markStarted();
  return { done, shutdown: () => shutdown() };
}

/** A stop signal arrived during start-up: not a failure; the shutdown in progress undoes what was done. */
class StartupInterrupted extends Error {}
