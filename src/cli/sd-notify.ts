// systemd's notify protocol, the supervisor's side (sd_notify(3)): datagrams to NOTIFY_SOCKET saying when
// the service is ready, reloading (a handoff) or stopping, a status line, watchdog pings, and the listening
// sockets to keep in systemd's fd store, so a restarted supervisor gets them back. Failures are logged:
// nothing here ever changes what the supervisor does.

import type { Logger } from '../log.js';
import { sendDatagram } from '../os.js';

export class SdNotify {
  readonly #socket: string;
  readonly #logger: Logger;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #watchdogUsec: number | undefined;

  private constructor(socket: string, watchdogUsec: number | undefined, logger: Logger) {
    this.#socket = socket;
    this.#watchdogUsec = watchdogUsec;
    this.#logger = logger;
  }

  /**
   * The notifier systemd asked for (NOTIFY_SOCKET; WATCHDOG_USEC when WATCHDOG_PID is ours or unset), or
   * undefined outside systemd. Consumes the variables: a daemon must not talk to systemd in our name.
   */
  static fromEnv(env: NodeJS.ProcessEnv, logger: Logger): SdNotify | undefined {
    const socket = env.NOTIFY_SOCKET;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (!socket) return undefined;
    return new SdNotify(socket, forUs && Number.isSafeInteger(usec) && usec > 0 ? usec : undefined, logger);
  }

  /** READY=1 with a status line: the first daemon answers, or a handoff has ended. */
  ready(status: string): void {
    this.#send(`READY=1\nSTATUS=${status}`);
  }

  /** A handoff begins: RELOADING=1 with the monotonic clock, as Type=notify-reload expects. */
  reloading(status: string): void {
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    this.#send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec}\nSTATUS=${status}`);
  }

  stopping(): void {
    this.#send('STOPPING=1\nSTATUS=stopping');
  }

  /** Hands systemd a copy of each listener to keep (FDSTORE=1, by name), for a restart of ours. */
  storeListeners(listeners: ReadonlyArray<{ readonly name: string; readonly fd: number }>): void {
    for (const { name, fd } of listeners) this.#send(`FDSTORE=1\nFDNAME=${name}`, [fd]);
  }

  /** Pings the watchdog every half of WATCHDOG_USEC, when systemd set one. */
  startWatchdog(): void {
    if (this.#watchdogUsec === undefined || this.#watchdog) return;
    const everyMs = Math.max(1, Math.floor(this.#watchdogUsec / 2000));
    this.#watchdog = setInterval(() => this.#send('WATCHDOG=1'), everyMs);
    this.#watchdog.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #send(message: string, fds: readonly number[] = []): void {
    try {
      sendDatagram(this.#socket, message, fds);
    } catch (error) {
      this.#logger.warn({ err: error, notifySocket: this.#socket }, 'sd_notify failed');
    }
  }
}

/** The status line systemd shows for the serving daemon. */
export function servingStatus(pid: number | undefined): string {
  return pid === undefined ? 'no daemon serving' : `serving: daemon pid ${pid}`;
}
