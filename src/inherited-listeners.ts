// The listening sockets an instance inherits from its supervisor at fds 3 … 3+n-1 (docs/protocol.md §2.1), by name.

import { HandoffError, isHandoffError } from './errors.js';
import { closeFd, DEFAULT_BACKLOG, dupFd, isListeningSocket, setListenBacklog } from './os.js';
import { LISTEN_FDS_START, RoleEnv } from './role-env.js';

/** What `server.listen()` takes to serve an inherited socket. */
export interface ListenerHandle {
  readonly fd: number;
  /**
   * The supervisor's accept-queue size (capped by somaxconn). listen(2) runs again on the inherited socket
   * and replaces the size for every holder, and Node 20 listens on an fd with 511 unless the backlog is
   * its positional argument (`server.listen(handle, handle.backlog)`); the library puts this size back
   * after the daemon listens either way (`restoreBacklog`).
   */
  readonly backlog: number;
}

export class InheritedListeners {
  readonly #fds: Map<string, number>;
  /** Each taken listener's spare fd, kept for `restoreBacklog` (the daemon's own fd may be closed by then). */
  readonly #taken = new Map<string, number>();

  private constructor(fds: Map<string, number>) {
    this.#fds = fds;
  }

  /** No inherited listeners (e.g. a daemon started by hand). */
  static none(): InheritedListeners {
    return new InheritedListeners(new Map());
  }

  /**
   * Reads LISTEN_FDS and LISTEN_FDNAMES, deletes both from `env`, and checks each fd is a listening socket
   * ([beyond]): `NotAListener` names the fd and its name otherwise. A missing or unparseable LISTEN_FDS is 0;
   * a missing or empty name falls back to the fd's decimal index; a repeated name keeps the later fd.
   */
  static fromEnv(env: NodeJS.ProcessEnv): InheritedListeners {
    const count = parseCount(env[RoleEnv.LISTEN_FDS]);
    const names = (env[RoleEnv.LISTEN_FDNAMES] ?? '').split(':');
    delete env[RoleEnv.LISTEN_FDS];
    delete env[RoleEnv.LISTEN_FDNAMES];
    const fds = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const fd = LISTEN_FDS_START + i;
      const name = names[i] || String(i);
      checkListening(fd, name);
      fds.set(name, fd);
    }
    return new InheritedListeners(fds);
  }

  /** Names not taken yet, in fd order. */
  get names(): string[] {
    return [...this.#fds.keys()];
  }

  /** The listener `name` for `server.listen(handle)`, once; undefined if unknown or already taken. */
  take(name: string): ListenerHandle | undefined {
    const fd = this.#fds.get(name);
    if (fd === undefined) return undefined;
    this.#taken.set(name, dupFd(fd));
    this.#fds.delete(name);
    return { fd, backlog: DEFAULT_BACKLOG };
  }

  /**
   * Puts the supervisor's accept-queue size back on every listener taken so far: the connections that
   * arrive while no instance accepts wait in that queue, and a daemon's `server.listen()` has just
   * shrunk it to Node's 511. Call it after the daemon listens (runDaemon does, after start and after
   * every resume; a successor's Ready does too). Throws `NotAListener`/`Io` as `setListenBacklog`.
   */
  restoreBacklog(): void {
    for (const fd of this.#taken.values()) setListenBacklog(fd, DEFAULT_BACKLOG);
  }

  /**
   * Closes this process's copies of the listeners nobody took, and the spare fds of those taken (for a
   * successor giving up). The supervisor's copies stay open, so the sockets themselves live on.
   */
  closeAll(): void {
    for (const fd of [...this.#fds.values(), ...this.#taken.values()]) {
      try {
        closeFd(fd);
      } catch {
        // Already closed: nothing to release.
      }
    }
    this.#fds.clear();
    this.#taken.clear();
  }
}

function parseCount(raw: string | undefined): number {
  if (raw === undefined || !/^\d+$/.test(raw)) return 0;
  const count = Number(raw);
  return Number.isSafeInteger(count) ? count : 0;
}

function checkListening(fd: number, name: string): void {
  let listening: boolean;
  try {
    listening = isListeningSocket(fd);
  } catch (error) {
    if (!isHandoffError(error, 'Io')) throw error;
    throw new HandoffError(
      'NotAListener',
      `inherited fd ${fd} (${name}) is not usable: ${error.message}; check LISTEN_FDS and how this process was started`,
      { fd, name },
      { cause: error },
    );
  }
  if (!listening) {
    throw new HandoffError(
      'NotAListener',
      `inherited fd ${fd} (${name}) is not a listening socket; check LISTEN_FDS and how this process was started`,
      { fd, name },
    );
  }
}
