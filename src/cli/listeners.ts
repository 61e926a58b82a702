// Where the supervisor's listening sockets come from, in this order: systemd (socket activation, or its fd
// store after a restart), the daemon a dead supervisor left serving (taken back with pidfd_getfd, the
// daemon adopted), or a fresh bind. Each fd, and each socket file we create, is registered for cleanup the
// moment it exists.

import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { HandoffError } from '../errors.js';
import type { Logger } from '../log.js';
import { closeFd, isListeningSocket, listenTcp, socketName } from '../os.js';
import { LISTEN_FDS_START, RoleEnv } from '../role-env.js';
import { bindUnixSocket, ensurePrivateDirectory } from '../safe-path.js';
import type { SupervisedListener } from '../supervisor/spawn.js';
import { findLiveDaemon, type LiveDaemon, takeListeners } from './adopt.js';
import { formatAddress, type HandoffConfig, type ListenAddress } from './config.js';
import { claimSocketPath, removeOwnSocket } from './socket-paths.js';

/** A listener as held: the fd handed to every instance, and the address actually bound. */
export type BoundListener = SupervisedListener & {
  readonly addr: string;
  /** How we came by it. */
  readonly source: 'systemd' | 'adopted' | 'bound';
  /** A unix socket file we are to remove at exit (if it is still the one at `path`). */
  readonly path?: string;
  readonly ino?: number;
};

export interface Listeners {
  readonly bound: BoundListener[];
  /**
   * The daemon that still served this config, to be adopted; `takePidfd` hands over the pidfd that names it
   * (from then on the caller owns it).
   */
  readonly adopted?: { readonly daemon: LiveDaemon; takePidfd(): number };
}

/** The listening fds systemd passed us (LISTEN_FDS for our pid), by name. Consumes the variables. */
export function systemdListeners(env: NodeJS.ProcessEnv = process.env): Map<string, number> {
  const fds = new Map<string, number>();
  const count = Number(env[RoleEnv.LISTEN_FDS]);
  const forUs = Number(env.LISTEN_PID) === process.pid;
  const names = (env[RoleEnv.LISTEN_FDNAMES] ?? '').split(':');
  delete env[RoleEnv.LISTEN_FDS];
  delete env[RoleEnv.LISTEN_FDNAMES];
  delete env.LISTEN_PID;
  if (!forUs || !Number.isInteger(count) || count <= 0) return fds;
  for (let i = 0; i < count; i++) fds.set(names[i] || String(i), LISTEN_FDS_START + i);
  return fds;
}

/**
 * Every configured listener: systemd's (checked to be a listening socket bound to the configured address),
 * else the live daemon's (when one still answers on the control socket: it is then adopted), else bound
 * here. systemd fds that match no listener are closed.
 */
export async function acquireListeners(
  config: HandoffConfig,
  fromSystemd: Map<string, number>,
  logger: Logger,
  cleanups: Array<() => void>,
): Promise<Listeners> {
  const bound: BoundListener[] = [];
  const hold = (listener: BoundListener) => {
    cleanups.push(() => {
      closeFd(listener.fd);
      if (listener.path !== undefined) removeOwnSocket(listener.path, listener.ino);
    });
    logger.info(
      { listener: listener.name, addr: listener.addr, fd: listener.fd, source: listener.source },
      'listening',
    );
    bound.push(listener);
  };
  for (const { name, addr } of config.listeners) {
    const fd = fromSystemd.get(name);
    if (fd === undefined) continue;
    fromSystemd.delete(name);
    checkSystemdListener(fd, name, addr);
    // A systemd socket's file is systemd's: never removed by us.
    hold({ name, fd, addr: describe(fd, addr), source: 'systemd' });
  }
  for (const [name, fd] of fromSystemd) {
    logger.warn({ name, fd }, 'closing a socket systemd passed that no [[listeners]] entry names');
    closeFd(fd);
  }
  const missing = config.listeners.filter((l) => !bound.some((b) => b.name === l.name));
  const live = await findLiveDaemon(config.controlSocket);
  let adopted: Listeners['adopted'];
  if (live) {
    const { pidfd, taken } = takeListeners(live.pid, missing, logger);
    // Ours until the keeper adopts the daemon (the adopted process then closes it once it has exited):
    // closing it twice could close whatever fd took its number meanwhile.
    let owned = true;
    cleanups.push(() => {
      if (owned) closeFd(pidfd);
    });
    adopted = {
      daemon: live,
      takePidfd: () => {
        owned = false;
        return pidfd;
      },
    };
    for (const { name, fd } of taken) {
      const addr = missing.find((l) => l.name === name)!.addr;
      hold({ name, fd, addr: describe(fd, addr), source: 'adopted', ...socketFile(addr) });
    }
  } else {
    for (const { name, addr } of missing) hold(await bind(name, addr));
  }
  // In the configured order: the fd layout every instance gets is part of the config.
  const order = config.listeners.map((l) => l.name);
  bound.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return { bound, ...(adopted && { adopted }) };
}

/**
 * Binds one listener through the native layer: held for the supervisor's life, never accepted on. Port 0
 * becomes the port the kernel chose.
 */
async function bind(name: string, addr: ListenAddress): Promise<BoundListener> {
  if (addr.kind === 'tcp') {
    const { fd, port } = listenTcp(addr.host, addr.port);
    return { name, fd, addr: formatAddress({ ...addr, port }), source: 'bound' };
  }
  ensurePrivateDirectory(dirname(addr.path), `directory of listener ${name}`);
  await claimSocketPath(addr.path, `listener ${name}`);
  const { fd, ino } = bindUnixSocket(addr.path, addr.mode, `listener ${name}`);
  return { name, fd, addr: formatAddress(addr), source: 'bound', path: addr.path, ino };
}

/** A systemd-passed fd must be a listening socket bound to the address the config names. */
function checkSystemdListener(fd: number, name: string, addr: ListenAddress): void {
  const bound = socketName(fd);
  const matches =
    addr.kind === 'unix'
      ? bound.family === 'unix' && bound.path === addr.path
      : (bound.family === 'inet' || bound.family === 'inet6') &&
        bound.address === addr.host &&
        (addr.port === 0 || bound.port === addr.port);
  if (!isListeningSocket(fd) || !matches) {
    throw new HandoffError(
      'NotAListener',
      `systemd passed fd ${fd} as listener ${name}, but it is ${isListeningSocket(fd) ? '' : 'not listening and '}` +
        `bound to ${JSON.stringify(bound)}, not ${formatAddress(addr)}; fix the .socket unit or the config`,
      { fd, name },
    );
  }
}

/** The address an inherited or adopted socket is bound to, for display (the real port of port 0). */
function describe(fd: number, addr: ListenAddress): string {
  const bound = socketName(fd);
  return addr.kind === 'tcp' && 'port' in bound
    ? formatAddress({ ...addr, port: bound.port })
    : formatAddress(addr);
}

/** For a unix listener whose file the dead supervisor of this config bound: ours now, removed at exit. */
function socketFile(addr: ListenAddress): { path?: string; ino?: number } {
  if (addr.kind !== 'unix') return {};
  const stat = lstatSync(addr.path, { throwIfNoEntry: false });
  return stat?.isSocket() ? { path: addr.path, ino: stat.ino } : {};
}
