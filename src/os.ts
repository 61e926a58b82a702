// The typed OS layer: kernel flock, peer credentials, supervisor-held listening sockets, inherited-fd hygiene
// (docs/protocol.md §1, §2.1, §5.2, §6). The only importer of the native addon (STYLE rule 4): expected errnos become values,
// every other failure a HandoffError with the addon's Error as `cause`.

import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import { constants } from 'node:os';
import { HandoffError, ioError } from './errors.js';
import { describe, invalidOption } from './options.js';
import { packageRoot } from './package-root.js';
import { DEFAULT_BACKLOG } from './timing.js';

/**
 * The longest Unix socket path Linux accepts, in bytes: `sun_path` is 108 bytes and needs a terminating NUL.
 * Paths are measured with `Buffer.byteLength`, so a multi-byte character counts as what it costs.
 */
export const SUN_PATH_MAX = 107;

export { DEFAULT_BACKLOG };

/** Mode of a Unix socket created by `listenUnix`: owner only, like the control socket (docs/protocol.md §5.2). */
export const DEFAULT_SOCKET_MODE = 0o600;

/** The credentials the kernel recorded for the peer of a connected Unix socket (SO_PEERCRED). */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** A listening TCP socket created by `listenTcp`: the caller owns `fd`; `port` is the bound port. */
export interface TcpListener {
  readonly fd: number;
  readonly port: number;
}

export interface ListenUnixOptions {
  /** listen(2) backlog. Default: `DEFAULT_BACKLOG` (4096; capped by net.core.somaxconn). */
  readonly backlog?: number;
  /** Permission bits of the socket file, applied before listen(2). Default: `DEFAULT_SOCKET_MODE` (0o600). */
  readonly mode?: number;
}

/** The addon's surface (native/handoff_native.cc); every function throws an Error with `code` and `syscall`. */
interface NativeAddon {
  flockExclusiveNonBlocking(fd: number): boolean;
  peerCredentials(fd: number): PeerCredentials;
  listenTcp(host: string, port: number, backlog: number): TcpListener;
  listenUnix(path: string, backlog: number, mode: number): number;
  isListeningSocket(fd: number): boolean;
  closeInheritedFds(keep: number[]): number;
  closeFd(fd: number): void;
  dupFd(fd: number): number;
  listenAgain(fd: number, backlog: number): void;
  pidfdOpen(pid: number): number;
  pidfdGetfd(pidfd: number, fd: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  pidfdExited(pidfd: number): boolean;
  socketName(fd: number): SocketName;
  sendDatagram(path: string, payload: Buffer, fds: number[]): void;
  setParentDeathSignal(signal: number): void;
}

/** What a socket is bound to (getsockname). */
export type SocketName =
  | { readonly family: 'inet' | 'inet6'; readonly address: string; readonly port: number }
  | { readonly family: 'unix'; readonly path: string }
  | { readonly family: 'other' };

/**
 * Loads the addon once, through node-gyp-build: a local build (build/Release, made by `npm ci` in a clone or
 * by a source fallback at install) wins, else the prebuilt binary for this platform shipped in prebuilds/.
 * node-gyp-build is CommonJS and loaded with `require`: importing it as ESM would start Node's CommonJS
 * export scanner and add milliseconds to every daemon's start.
 */
function loadAddon(): NativeAddon {
  let root = '(unknown)';
  try {
    root = packageRoot();
    const load = createRequire(import.meta.url)('node-gyp-build') as (dir: string) => unknown;
    return load(root) as NativeAddon;
  } catch (cause) {
    throw new HandoffError(
      'Io',
      `cannot load the daemon-handoff native addon from ${root} (looked for build/Release/handoff_native.node ` +
        `and prebuilds/${process.platform}-${process.arch}/): ${firstLine(cause)}. ` +
        'Fix: `npm rebuild daemon-handoff` builds it from source (needs g++, make and python3); ' +
        'in a clone of the repository, `npm ci`.',
      { path: root },
      { cause },
    );
  }
}

const native: NativeAddon = loadAddon();

/** The first line of an error's message (require errors append a multi-line require stack). */
function firstLine(cause: unknown): string {
  return (cause instanceof Error ? cause.message : String(cause)).split('\n')[0] ?? '';
}

/**
 * Tries to take an exclusive flock on `fd` without waiting. Returns false when another open file description
 * holds it (EWOULDBLOCK); throws `Io` for anything else (a closed fd, …).
 */
export function tryFlockExclusive(fd: number): boolean {
  checkFd(fd);
  try {
    return native.flockExclusiveNonBlocking(fd);
  } catch (cause) {
    throw ioError(`cannot flock fd ${fd}`, cause, { fd });
  }
}

/** The pid, uid and gid of the process that connected the Unix socket `fd`. Throws `Io` for a non-Unix fd. */
export function peerCredentials(fd: number): PeerCredentials {
  checkFd(fd);
  try {
    return native.peerCredentials(fd);
  } catch (cause) {
    throw ioError(`cannot read the peer credentials of fd ${fd}`, cause, { fd });
  }
}

/**
 * Creates a listening TCP socket on a numeric IPv4 or IPv6 `host` (port 0 picks a free port) and returns its fd
 * and bound port. The fd is close-on-exec, blocking, and never registered with the event loop: this process never
 * accepts on it; a child gets it in a stdio slot and calls `server.listen({ fd })`. The caller owns and closes it.
 */
export function listenTcp(host: string, port: number, backlog: number = DEFAULT_BACKLOG): TcpListener {
  if (isIP(host) === 0) {
    throw invalidOption('host', 'a numeric IPv4 or IPv6 address', host);
  }
  checkInteger('port', port, 0, 65535);
  checkInteger('backlog', backlog, 1, 0x7fffffff);
  try {
    return native.listenTcp(host, port, backlog);
  } catch (cause) {
    throw ioError(`cannot listen on ${isIP(host) === 6 ? `[${host}]` : host}:${port}`, cause);
  }
}

/**
 * Creates a listening Unix stream socket at `path` with permission bits `mode`, and returns its fd (same
 * ownership and event-loop rules as `listenTcp`). Fails with `SocketPathTooLong` before any syscall when the path
 * does not fit `sun_path`, and with `Io` (EADDRINUSE) when the path exists: removing a stale file is the caller's
 * decision.
 */
export function listenUnix(path: string, options: ListenUnixOptions = {}): number {
  checkSocketPath(path);
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  const mode = options.mode ?? DEFAULT_SOCKET_MODE;
  checkInteger('backlog', backlog, 1, 0x7fffffff);
  checkInteger('mode', mode, 0, 0o7777);
  try {
    return native.listenUnix(path, backlog, mode);
  } catch (cause) {
    throw ioError(`cannot listen on Unix socket ${path}`, cause, { path });
  }
}

/**
 * Throws `SocketPathTooLong` naming the path and its byte length when `path` does not fit a Unix socket address
 * (more than `SUN_PATH_MAX` bytes), and `InvalidOption` for an empty path or one containing NUL.
 */
export function checkSocketPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new HandoffError(
      'InvalidOption',
      `a Unix socket path must be a non-empty string without NUL bytes, got ${describe(path)}`,
      { option: 'path' },
    );
  }
  const bytes = Buffer.byteLength(path);
  if (bytes > SUN_PATH_MAX) {
    throw new HandoffError(
      'SocketPathTooLong',
      `Unix socket path ${path} is ${bytes} bytes; Linux allows at most ${SUN_PATH_MAX} (sun_path). Use a shorter path.`,
      { path },
    );
  }
}

/**
 * True when `fd` is a socket in the listening state (SO_ACCEPTCONN); false for a connected socket or a non-socket
 * (a file, a pipe). Throws `Io` for a closed fd (EBADF).
 */
export function isListeningSocket(fd: number): boolean {
  checkFd(fd);
  try {
    return native.isListeningSocket(fd);
  } catch (cause) {
    throw ioError(`cannot check whether fd ${fd} is a listening socket`, cause, { fd });
  }
}

/**
 * Closes every fd ≥ 3 this process holds without close-on-exec, except those in `keep`, and returns how many it
 * closed. Call it once at start-up before spawning anything: an fd inherited from whoever started us would
 * otherwise leak into every child (docs/protocol.md §2.1). Node's and libuv's own fds are close-on-exec
 * and survive; so do the stdio fds 0–2. (Node 20 already marks its low inherited fds close-on-exec at start-up,
 * 0–16 and on while they are contiguous, measured with strace; the leaks this catches sit higher.)
 */
export function closeInheritedFds(keep: readonly number[] = []): number {
  for (const fd of keep) checkFd(fd);
  try {
    return native.closeInheritedFds([...keep]);
  } catch (cause) {
    throw ioError('cannot close inherited fds', cause);
  }
}

/** Closes an fd created by `listenTcp`/`listenUnix` (fds opened through `node:fs` close with `fs.closeSync`). */
export function closeFd(fd: number): void {
  checkFd(fd);
  try {
    native.closeFd(fd);
  } catch (cause) {
    throw ioError(`cannot close fd ${fd}`, cause, { fd });
  }
}

/**
 * A new close-on-exec fd (≥ 3) for the same open socket or file as `fd`; the caller owns it. Node's
 * `server.close()` closes the fd a server listened on, so a daemon that must stop accepting and later
 * accept again on an inherited listener keeps a duplicate to listen on next time.
 */
export function dupFd(fd: number): number {
  checkFd(fd);
  try {
    return native.dupFd(fd);
  } catch (cause) {
    throw ioError(`cannot duplicate fd ${fd}`, cause, { fd });
  }
}

/**
 * Sets the accept-queue limit of the listening socket `fd` to `backlog` (capped by net.core.somaxconn) by
 * running listen(2) on it again, which on Linux changes nothing else. Every listen(2) on a shared socket
 * replaces the limit for all its holders, and Node listens on an inherited fd with 511 whatever its
 * options say, so the library puts the supervisor's size back after a daemon listens
 * (docs/operations.md, "Accept queue"). Throws `NotAListener` for a socket that is not listening (it
 * would start listening), `Io` for a closed fd.
 */
export function setListenBacklog(fd: number, backlog: number = DEFAULT_BACKLOG): void {
  checkInteger('backlog', backlog, 1, 0x7fffffff);
  if (!isListeningSocket(fd)) {
    throw new HandoffError('NotAListener', `fd ${fd} is not a listening socket; its backlog was left alone`, {
      fd,
    });
  }
  try {
    native.listenAgain(fd, backlog);
  } catch (cause) {
    throw ioError(`cannot set the backlog of listening fd ${fd}`, cause, { fd });
  }
}

/**
 * A pidfd for `pid`: it names that very process for as long as it is open (no pid-reuse race). The caller
 * owns it (close with `closeFd`). Throws `Io` (ESRCH when the process is gone).
 */
export function pidfdOpen(pid: number): number {
  checkInteger('pid', pid, 1, 0x7fffffff);
  try {
    return native.pidfdOpen(pid);
  } catch (cause) {
    throw ioError(`cannot open a pidfd for pid ${pid}`, cause);
  }
}

/**
 * A duplicate, in this process, of fd `fd` of the process behind `pidfd` (Linux ≥ 5.6; needs the right to
 * ptrace it: same uid and Yama ptrace_scope 0, or CAP_SYS_PTRACE). The caller owns the new fd. Throws `Io`
 * (EPERM when not permitted, EBADF when it has no such fd).
 */
export function pidfdGetfd(pidfd: number, fd: number): number {
  checkFd(pidfd);
  checkFd(fd);
  try {
    return native.pidfdGetfd(pidfd, fd);
  } catch (cause) {
    throw ioError(`cannot take fd ${fd} from the process behind pidfd ${pidfd}`, cause, { fd });
  }
}

/** Sends `signal` to the process behind `pidfd` (and only to it). Throws `Io` (ESRCH once it has exited). */
export function pidfdSendSignal(pidfd: number, signal: NodeJS.Signals): void {
  checkFd(pidfd);
  const number = constants.signals[signal];
  try {
    native.pidfdSendSignal(pidfd, number);
  } catch (cause) {
    throw ioError(`cannot send ${signal} through pidfd ${pidfd}`, cause);
  }
}

/** Whether the process behind `pidfd` has exited. Never blocks. */
export function pidfdExited(pidfd: number): boolean {
  checkFd(pidfd);
  try {
    return native.pidfdExited(pidfd);
  } catch (cause) {
    throw ioError(`cannot poll pidfd ${pidfd}`, cause);
  }
}

/** What the socket `fd` is bound to. Throws `Io` for a non-socket or a closed fd. */
export function socketName(fd: number): SocketName {
  checkFd(fd);
  try {
    return native.socketName(fd);
  } catch (cause) {
    throw ioError(`cannot read the address of socket fd ${fd}`, cause, { fd });
  }
}

/**
 * Sends one datagram to the Unix datagram socket at `path` (`@name`: the abstract namespace), with `fds`
 * attached (SCM_RIGHTS), from a fresh socket that is closed right after. For sd_notify. Throws `Io`.
 */
export function sendDatagram(path: string, payload: string, fds: readonly number[] = []): void {
  for (const fd of fds) checkFd(fd);
  try {
    native.sendDatagram(path, Buffer.from(payload), [...fds]);
  } catch (cause) {
    throw ioError(`cannot send a datagram to ${path}`, cause, { path });
  }
}

/** Asks the kernel to send `signal` to this process when its parent exits (PR_SET_PDEATHSIG). Throws `Io`. */
export function setParentDeathSignal(signal: NodeJS.Signals): void {
  try {
    native.setParentDeathSignal(constants.signals[signal]);
  } catch (cause) {
    throw ioError(`cannot ask for ${signal} when the parent exits`, cause);
  }
}

/**
 * The fd under a connected `net.Socket` (to pass to `peerCredentials`). Node has no public accessor; on Unix the
 * libuv stream handle carries it as `_handle.fd`. Throws `Io` when the socket has no fd (destroyed, not a stream).
 */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new HandoffError(
      'Io',
      `the socket has no file descriptor (destroyed or not a stream), got ${describe(fd)}`,
    );
  }
  return fd;
}

function checkFd(fd: number): void {
  checkInteger('fd', fd, 0, 0x7fffffff);
}

function checkInteger(option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(option, `an integer from ${min} to ${max}`, value);
  }
}
