// Keeps exactly one daemon instance running under `handoff run`: cold-starts the serving build, gives it
// start_timeout to answer on its control socket, restarts it with backoff when it dies outside a handoff
// (the listeners stay open meanwhile, so clients queue instead of being refused) and gives up after
// max_restarts in restart_window; takes over each committed successor as the serving build; and stops every
// instance it started, whatever state it is in.

import type { Logger } from '../log.js';
import { type InstanceSpec, type SupervisedListener, spawnInstance } from '../supervisor/spawn.js';
import { childDaemon, type DaemonProcess } from './daemon-process.js';
import { waitForIncumbent } from './probe.js';

/** Restarts back off from restartBackoffMs, doubling up to this. */
const MAX_RESTART_BACKOFF_MS = 30_000;
/** An instance that lived this long resets the backoff. */
const HEALTHY_UPTIME_MS = 30_000;

export interface KeeperOptions {
  readonly listeners: readonly SupervisedListener[];
  readonly controlPath: string;
  readonly restartBackoffMs: number;
  /** A cold start must answer on the control socket within this, or it is killed and restarted. */
  readonly startTimeoutMs: number;
  /** At most this many restarts within restartWindowMs; then the keeper gives up (status says so). */
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly logger: Logger;
  /** Told which process serves which build, at every start, adoption and commit. */
  readonly onServing?: (pid: number, build: InstanceSpec) => void;
  /** Before a restart: a daemon of this config that serves already (to adopt instead), if any. */
  readonly findServing?: () => Promise<{ daemon: DaemonProcess; build?: InstanceSpec } | undefined>;
}

export interface DaemonInfo {
  readonly pid: number;
  readonly startedAtUnixMs: number;
  /** The build this instance runs. */
  readonly build: InstanceSpec;
  /** When this supervisor adopted it from one that died (it did not start it). */
  readonly adoptedAtUnixMs?: number;
  /** Its build id from its Hello, once it answered (or from the handoff that started it). */
  readonly buildId?: string;
}

/** A daemon that died outside a handoff, as the exit hook sees it. */
export interface DaemonExitSeen {
  readonly pid: number;
  /** `exited with code N` or `killed by SIGNAL`. */
  readonly how: string;
  readonly lastWords: string | undefined;
}

/** Why the keeper stopped restarting, for status and logs. */
export interface GaveUp {
  readonly atUnixMs: number;
  readonly restarts: number;
  readonly windowMs: number;
  readonly lastExit: string;
  readonly lastWords?: string;
}

interface Instance {
  readonly process: DaemonProcess;
  readonly info: { -readonly [K in keyof DaemonInfo]: DaemonInfo[K] };
}

export class DaemonKeeper {
  readonly #options: KeeperOptions;
  /** The build that serves now (or served last): the configured one until a handoff commits another. */
  #build: InstanceSpec;
  #current: Instance | undefined;
  /** Instances that were replaced and have not exited yet (an old build after its Commit). */
  readonly #retiring = new Set<DaemonProcess>();
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  /** When each restart happened (Unix ms), for the restart window. */
  #restartTimes: number[] = [];
  #gaveUp: GaveUp | undefined;
  #handoffActive = false;
  #stopping = false;
  /** Sees each exit outside a handoff first; returning true means it takes over (no crash restart). */
  #exitHook: ((exit: DaemonExitSeen) => boolean) | undefined;
  restarts = 0;

  constructor(build: InstanceSpec, options: KeeperOptions) {
    this.#build = build;
    this.#options = options;
  }

  get current(): DaemonInfo | undefined {
    return this.#current?.info;
  }

  /** The build restarts and SIGHUP use: the one serving now. */
  get build(): InstanceSpec {
    return this.#build;
  }

  get gaveUp(): GaveUp | undefined {
    return this.#gaveUp;
  }

  /** Installs the hook that sees a daemon's exit outside a handoff before any restart (probation's). */
  onExitOutsideHandoff(hook: (exit: DaemonExitSeen) => boolean): void {
    this.#exitHook = hook;
  }

  /**
   * From now on restarts and SIGHUP use `build`, whichever build serves at the moment (a probation
   * fall-back: the failed build is never restarted by itself).
   */
  useBuild(build: InstanceSpec): void {
    this.#build = build;
  }

  /**
   * A fall-back's cold start of `build` (the serving build died): like a restart, but at once and outside
   * the restart budget. A build that cannot even be started is then restarted within the budget.
   */
  async fallBackTo(build: InstanceSpec): Promise<void> {
    this.#build = build;
    if (this.#stopping || this.#current) return;
    clearTimeout(this.#restartTimer);
    try {
      await this.start(build);
    } catch (error) {
      this.#options.logger.error({ err: error, binary: build.command }, 'could not start the previous build');
      if (!this.#stopping && !this.#current) {
        this.#scheduleRestart({ lastExit: 'could not be started', lastWords: String(error) });
      }
      throw error;
    }
  }

  /**
   * Cold-starts `build` (default: the serving build) and resolves once it answers on the control socket.
   * Throws `Io` when the executable cannot be started at all; an instance that starts but dies or does not
   * answer within startTimeoutMs is killed and handled like a crash (restarted, within the limits).
   */
  async start(build: InstanceSpec = this.#build): Promise<void> {
    const { child, pid, stderr } = await spawnInstance('coldStart', build, this.#options.listeners);
    const daemon = childDaemon(child, stderr);
    if (this.#stopping) {
      // `stop` ran while we spawned: it did not know this child, so it is ours to end.
      await daemon.killGroupAndWait();
      return;
    }
    this.#build = build;
    this.#track({ process: daemon, info: { pid, startedAtUnixMs: Date.now(), build } });
    this.#options.logger.info({ daemonPid: pid, binary: build.command }, 'daemon started');
    const answered = await Promise.race([
      waitForIncumbent(this.#options.controlPath, pid, this.#options.startTimeoutMs),
      daemon.exited.then(() => undefined),
    ]);
    if (answered && this.#current?.process === daemon) this.#current.info.buildId = answered.buildId;
    if (answered || this.#current?.process !== daemon) return;
    this.#options.logger.error(
      {
        daemonPid: pid,
        startTimeoutMs: this.#options.startTimeoutMs,
        controlPath: this.#options.controlPath,
      },
      'the daemon did not answer on its control socket in time; killing it',
    );
    await daemon.killGroupAndWait(); // the exit handler restarts it
  }

  /**
   * Takes over a live daemon that a supervisor which died had started: it becomes the serving daemon, is
   * restarted (as `build`) when it dies, and is handed off like any other.
   */
  adopt(daemon: DaemonProcess, build: InstanceSpec): void {
    this.#build = build;
    this.#track({
      process: daemon,
      info: {
        pid: daemon.pid,
        startedAtUnixMs: Date.now(),
        build,
        adoptedAtUnixMs: daemon.adoptedAtUnixMs ?? Date.now(),
      },
    });
    this.#options.logger.warn(
      { daemonPid: daemon.pid },
      'adopted the serving daemon of a supervisor that died',
    );
  }

  /** Starts again after giving up (an operator's explicit request): the restart budget starts afresh. */
  async revive(build: InstanceSpec): Promise<void> {
    this.#gaveUp = undefined;
    this.#restartTimes = [];
    this.#failures = 0;
    clearTimeout(this.#restartTimer);
    await this.start(build);
  }

  /** While a handoff runs, the incumbent exiting is the handoff's business, not a crash to restart. */
  beginHandoff(): void {
    this.#handoffActive = true;
  }

  /**
   * After a handoff: a committed successor becomes the serving build, and the old instance is given
   * `retireGraceMs` to exit by itself (it does after Commit) before it is killed, in the background (`stop`
   * ends it too). Otherwise, if the incumbent died meanwhile, start a new one.
   */
  endHandoff(
    committed: { process: DaemonProcess; build: InstanceSpec; buildId: string | undefined } | undefined,
    retireGraceMs: number,
  ): void {
    this.#handoffActive = false;
    if (committed) {
      const old = this.#current;
      this.#build = committed.build;
      this.#track({
        process: committed.process,
        info: {
          pid: committed.process.pid,
          startedAtUnixMs: Date.now(),
          build: committed.build,
          ...(committed.buildId !== undefined && { buildId: committed.buildId }),
        },
      });
      if (old) void this.#retire(old.process, retireGraceMs);
      return;
    }
    if (!this.#current && !this.#stopping) this.#scheduleRestart();
  }

  /**
   * Stops every instance this keeper started: SIGTERM to each process group, SIGKILL to what is still
   * alive at `deadline` (Unix ms). No restart afterwards. Resolves when all of them are reaped.
   */
  async stop(deadline: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const daemons = this.#daemons();
    for (const daemon of daemons) daemon.signalGroup('SIGTERM');
    await Promise.all(
      daemons.map(async (daemon) => {
        const exited = await Promise.race([
          daemon.exited.then(() => true),
          delay(Math.max(0, deadline - Date.now())).then(() => false),
        ]);
        if (!exited) {
          this.#options.logger.warn({ daemonPid: daemon.pid }, 'daemon did not exit in time; killing it');
          await daemon.killGroupAndWait();
        }
      }),
    );
  }

  /** SIGKILLs every instance at once (a second stop signal) and waits until they are reaped. */
  async killAll(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    await Promise.all(this.#daemons().map((daemon) => daemon.killGroupAndWait()));
  }

  #daemons(): DaemonProcess[] {
    const daemons = [...this.#retiring];
    if (this.#current) daemons.push(this.#current.process);
    return daemons;
  }

  #track(instance: Instance): void {
    this.#current = instance;
    this.#options.onServing?.(instance.info.pid, instance.info.build);
    const { process: daemon, info } = instance;
    void daemon.exited.then(async (exit) => {
      if (this.#current?.process !== daemon) return; // a retired instance
      this.#current = undefined;
      const uptimeMs = Date.now() - info.startedAtUnixMs;
      if (this.#stopping || this.#handoffActive) return; // the handoff's outcome decides what happens next
      await daemon.stderr?.settled(1000);
      const lastWords = daemon.stderr?.lastWords();
      this.#options.logger.warn(
        { daemonPid: info.pid, code: exit.code, signal: exit.signal, uptimeMs, lastWords },
        'daemon exited outside a handoff',
      );
      if (uptimeMs >= HEALTHY_UPTIME_MS) this.#failures = 0;
      if (this.#stopping || this.#current || this.#handoffActive) return;
      if (this.#exitHook?.({ pid: info.pid, how: exit.description, lastWords })) return;
      this.#scheduleRestart({ lastExit: exit.description, lastWords });
    });
  }

  #scheduleRestart(why?: { lastExit: string; lastWords: string | undefined }): void {
    const { restartBackoffMs, maxRestarts, restartWindowMs, logger } = this.#options;
    const now = Date.now();
    this.#restartTimes = this.#restartTimes.filter((at) => now - at < restartWindowMs);
    if (this.#restartTimes.length >= maxRestarts) {
      this.#gaveUp = {
        atUnixMs: now,
        restarts: this.#restartTimes.length,
        windowMs: restartWindowMs,
        lastExit: why?.lastExit ?? 'did not start',
        ...(why?.lastWords !== undefined && { lastWords: why.lastWords }),
      };
      logger.error(
        { ...this.#gaveUp, binary: this.#build.command },
        `gave up restarting the daemon: ${this.#restartTimes.length} restarts within ${restartWindowMs / 1000} s; ` +
          'the listeners stay open; start a build with `handoff upgrade <binary>`',
      );
      return;
    }
    const delayMs = Math.min(MAX_RESTART_BACKOFF_MS, restartBackoffMs * 2 ** this.#failures);
    this.#failures++;
    clearTimeout(this.#restartTimer); // one pending restart at most
    logger.info({ delayMs, binary: this.#build.command }, 'restarting the daemon');
    this.#restartTimer = setTimeout(() => void this.#restart(), delayMs);
  }

  /**
   * A restart: first a look for a daemon that already serves (an orphan of a supervisor that died mid-
   * handoff can hold the data dir, and a second cold start would only be refused its lock); else start one.
   */
  async #restart(): Promise<void> {
    if (this.#stopping || this.#current || this.#handoffActive) return;
    const live = await this.#options.findServing?.().catch(() => undefined);
    if (this.#stopping || this.#current || this.#handoffActive) return;
    if (live) {
      this.adopt(live.daemon, live.build ?? this.#build);
      return;
    }
    this.restarts++;
    this.#restartTimes.push(Date.now());
    this.start().catch((error: unknown) => {
      this.#options.logger.error({ err: error }, 'could not restart the daemon');
      this.#scheduleRestart({ lastExit: 'could not be started', lastWords: String(error) });
    });
  }

  async #retire(old: DaemonProcess, graceMs: number): Promise<void> {
    this.#retiring.add(old);
    try {
      const exit = await Promise.race([old.exited, delay(graceMs).then(() => undefined)]);
      if (exit) {
        this.#options.logger.info({ daemonPid: old.pid, exit: exit.description }, 'previous daemon exited');
      } else {
        this.#options.logger.warn(
          { daemonPid: old.pid, graceMs },
          'previous daemon still running after the handoff; killing it',
        );
        await old.killGroupAndWait();
      }
    } finally {
      this.#retiring.delete(old);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
