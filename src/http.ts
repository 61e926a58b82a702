// Drains a node:http server without a single reset (docs/operations.md, "Draining HTTP"), for a Drainable's
// drain/resumeAfterAbort (docs/protocol.md §7). Stopping accept closes this process's copy of the listening fd only: the
// supervisor's copy keeps the kernel socket and its accept queue open, so new clients wait for the successor.

import { closeSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import net from 'node:net';
import type { DrainContext, DrainReport } from './drainable.js';
import { HandoffError, ioError } from './errors.js';
import { DEFAULT_BACKLOG, dupFd as nativeDupFd } from './os.js';
import { MAX_TIMER_MS } from './timing.js';

/*
 * Why the fd needs a duplicate (measured on Node 20.20): `server.listen({ fd: 3 })` wraps fd 3 itself
 * (uv_tcp_open, no dup), so `net.Server.prototype.close` closes fd 3 — `fstat(3)` fails with EBADF right
 * after. The kernel socket survives (the supervisor holds another fd for it), but this process has lost
 * its way back to it: `resume()` after an aborted handoff could never accept again, and re-listening on
 * the number 3 would wrap whatever file next reuses it. Node offers no way to stop a listening handle's
 * accepts short of closing it, and no dup(). So at its first
 * drain the drainer keeps a spare duplicate of the listening fd (the native layer's dup), and every
 * `resume()` listens on a fresh duplicate of that spare: a failed re-listen never consumes the spare, and
 * no fd number is ever reused after close. This works the same for an inherited fd and for a port or path
 * the server bound itself.
 */

/** Options of {@link HttpDrain}. */
export interface HttpDrainOptions {
  /**
   * How long, in ms, a connection with no request in flight must stay silent during a drain before it is
   * closed. A request that arrives in that window is answered with `Connection: close` instead of racing
   * the close. Default: 50 (enough for 0 resets in the measurement in docs/operations.md).
   */
  readonly drainQuietMs?: number;
  /**
   * Returns a new fd for the same open socket as `fd` (dup(2)); the drainer owns the returned fd.
   * Default: the native layer's dupFd. A test seam; there is no reason to replace it in a daemon.
   */
  readonly dupFd?: (fd: number) => number | Promise<number>;
  /**
   * Accept-queue length passed when `resume()` listens again; the kernel caps it at net.core.somaxconn.
   * Pass the same value the daemon listened with. Default: 4096 (arrival rate × accept gap must fit).
   */
  readonly backlog?: number;
}

export const HTTP_DRAIN_DEFAULTS = Object.freeze({ drainQuietMs: 50, backlog: DEFAULT_BACKLOG });

interface ResolvedOptions {
  readonly drainQuietMs: number;
  readonly dupFd: (fd: number) => number | Promise<number>;
  readonly backlog: number;
}

/** Per-connection bookkeeping. */
interface Conn {
  readonly inFlight: Set<ServerResponse>;
  quietTimer: NodeJS.Timeout | undefined;
  bytesReadAtArm: number;
}

/**
 * Tracks one `http.Server`'s connections and requests so it can be drained and resumed. Construct it
 * before the server listens (connections accepted earlier would be invisible to the drain). https servers
 * are not supported: their requests arrive on TLS sockets, not on the tracked TCP ones. Upgraded
 * connections (WebSocket) are treated like idle ones — ended once quiet, destroyed at the deadline — so an
 * application that wants to say goodbye on them should do so when its drain starts.
 */
export class HttpDrain {
  readonly #server: Server;
  readonly #options: ResolvedOptions;
  readonly #conns = new Map<Socket, Conn>();
  /** True from drain() until resume(): every response says `Connection: close`. */
  #closing = false;
  #pending: Promise<DrainReport> | undefined;
  /** Ends the drain in progress: `forced` destroys the connections left (deadline or abort). */
  #settle: ((forced: boolean) => void) | undefined;
  /** A duplicate of the listening fd, kept from the first drain on; resume() listens on dups of it. */
  #spareFd: number | undefined;
  /** Bumped by every drain and resume, so one that finishes an await after the other began backs off. */
  #epoch = 0;

  constructor(server: Server, options: HttpDrainOptions = {}) {
    this.#options = resolveOptions(options);
    if (server.listening) {
      throw new HandoffError(
        'InvalidOption',
        'HttpDrain must be attached before the server listens: connections accepted earlier cannot be drained',
        { option: 'server' },
      );
    }
    this.#server = server;
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
    // Runs before the application's handler, so `Connection: close` is decided before any header is written.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) =>
      this.#onRequest(req, res),
    );
  }

  /** Connections currently open (for `snapshotState`). */
  get openConnections(): number {
    return this.#conns.size;
  }

  /** True while the server accepts connections. */
  get accepting(): boolean {
    return this.#server.listening;
  }

  /**
   * Stops accepting, answers every further request with `Connection: close`, closes connections that stay
   * quiet for `drainQuietMs`, and waits for in-flight requests. At `deadline` or when `signal` aborts, it
   * destroys what is left and reports that count. Concurrent calls share one drain; a drain after a drain
   * (with no resume between) returns at once. Throws `Io` only if duplicating the fd fails, and then
   * still accepts.
   */
  drain(context: DrainContext): Promise<DrainReport> {
    this.#pending ??= this.#runDrain(context).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /**
   * Accepts again and stops closing connections: listens on a new duplicate of the fd kept at the first
   * drain. Idempotent; a no-op while listening or if it never drained. A pending drain resolves with the connections still open. Throws `Io` if listening fails.
   */
  async resume(): Promise<void> {
    const epoch = ++this.#epoch;
    this.#closing = false;
    for (const conn of this.#conns.values()) clearQuietTimer(conn);
    this.#settle?.(false);
    if (this.#server.listening) return;
    if (this.#spareFd === undefined) return;
    const fd = await this.#dup(this.#spareFd);
    if (epoch !== this.#epoch) {
      closeSync(fd); // a drain began meanwhile: stay closed
      return;
    }
    await listen(this.#server, fd, this.#options.backlog);
  }

  async #runDrain({ deadline, signal }: DrainContext): Promise<DrainReport> {
    const epoch = ++this.#epoch;
    if (this.#server.listening) {
      await this.#keepWayBack();
      // A resume while the fd was being duplicated wins: keep serving.
      if (epoch !== this.#epoch) return { openConnsRemaining: this.#conns.size, acceptClosed: false };
      // The net close, not http's: Node ≥ 19's http close also destroys idle keep-alive sockets at once,
      // which resets the requests clients are sending on them (measured: 144 ECONNRESET over 9 handoffs).
      net.Server.prototype.close.call(this.#server);
    }
    this.#closing = true;
    return await new Promise<DrainReport>((resolve) => {
      const onAbort = () => settle(true);
      const timer = setTimeout(onAbort, Math.min(Math.max(0, deadline - Date.now()), MAX_TIMER_MS));
      const settle = (forced: boolean) => {
        if (this.#settle !== settle) return;
        this.#settle = undefined;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const openConnsRemaining = this.#conns.size;
        if (forced) for (const socket of this.#conns.keys()) socket.destroy();
        resolve({ openConnsRemaining, acceptClosed: !this.#server.listening });
      };
      this.#settle = settle;
      signal.addEventListener('abort', onAbort, { once: true });
      for (const [socket, conn] of this.#conns) this.#closeWhenDone(socket, conn);
      if (signal.aborted) settle(true);
      else if (this.#conns.size === 0) settle(false);
    });
  }

  /** Keeps a way back to the listening socket (SAFETY: before closing, so a failed dup leaves us serving). */
  async #keepWayBack(): Promise<void> {
    if (this.#spareFd === undefined) this.#spareFd = await this.#dup(listeningFd(this.#server));
  }

  async #dup(fd: number): Promise<number> {
    const { dupFd } = this.#options;
    let copy: number;
    try {
      copy = await dupFd(fd);
    } catch (error) {
      throw ioError(`cannot duplicate listening fd ${fd}`, error, { fd });
    }
    if (!Number.isInteger(copy) || copy < 0) {
      throw new HandoffError('Io', `dupFd(${fd}) returned ${String(copy)}, not an fd`, { fd });
    }
    return copy;
  }

  #onConnection(socket: Socket): void {
    const conn: Conn = { inFlight: new Set(), quietTimer: undefined, bytesReadAtArm: 0 };
    this.#conns.set(socket, conn);
    socket.once('close', () => {
      clearQuietTimer(conn);
      this.#conns.delete(socket);
      if (this.#conns.size === 0) this.#settle?.(false);
    });
    // Accepted just before accept stopped: it gets the same quiet period as any idle connection.
    if (this.#closing) this.#closeWhenDone(socket, conn);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const conn = this.#conns.get(socket);
    if (!conn) return;
    clearQuietTimer(conn);
    conn.inFlight.add(res);
    // Node writes `Connection: close` and ends the socket after this response (verified on Node 20).
    if (this.#closing) res.shouldKeepAlive = false;
    res.once('close', () => {
      conn.inFlight.delete(res);
      if (this.#closing && conn.inFlight.size === 0) this.#armQuietTimer(socket, conn);
    });
  }

  /** Drain start (or a late accept): in-flight responses not yet started close their socket when done. */
  #closeWhenDone(socket: Socket, conn: Conn): void {
    for (const res of conn.inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    if (conn.inFlight.size === 0) this.#armQuietTimer(socket, conn);
  }

  #armQuietTimer(socket: Socket, conn: Conn): void {
    clearQuietTimer(conn);
    if (socket.destroyed || socket.writableEnded) return;
    conn.bytesReadAtArm = socket.bytesRead;
    conn.quietTimer = setTimeout(() => {
      conn.quietTimer = undefined;
      // Timers run before the poll phase: a request already in the kernel buffer is read only after this
      // callback. Decide in the check phase, after that read, or the close would reset it.
      setImmediate(() => {
        if (conn.quietTimer === undefined) this.#closeIfQuiet(socket, conn); // else re-armed meanwhile
      });
    }, this.#options.drainQuietMs);
  }

  #closeIfQuiet(socket: Socket, conn: Conn): void {
    if (!this.#closing || conn.inFlight.size > 0 || socket.destroyed || socket.writableEnded) return;
    // Part of a request arrived (no 'request' event yet): give it another quiet period.
    if (socket.bytesRead !== conn.bytesReadAtArm) {
      this.#armQuietTimer(socket, conn);
      return;
    }
    // FIN first, then close once it is flushed — what Node does after a `Connection: close` response.
    socket.destroySoon();
  }
}

function clearQuietTimer(conn: Conn): void {
  if (conn.quietTimer !== undefined) clearTimeout(conn.quietTimer);
  conn.quietTimer = undefined;
}

/** The fd of the server's listening handle; Node keeps it on the private `_handle` (Unix only). */
function listeningFd(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new HandoffError('Io', `cannot find the listening fd of the server (got ${String(fd)})`);
  }
  return fd;
}

function listen(server: Server, fd: number, backlog: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(ioError(`resume: cannot listen again on fd ${fd}`, error, { fd }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // Positional: Node 20 ignores `backlog` inside `{ fd }` options and listens with 511.
    server.listen({ fd }, backlog);
  });
}

function resolveOptions(options: HttpDrainOptions): ResolvedOptions {
  const drainQuietMs = options.drainQuietMs ?? HTTP_DRAIN_DEFAULTS.drainQuietMs;
  const backlog = options.backlog ?? HTTP_DRAIN_DEFAULTS.backlog;
  if (!Number.isInteger(drainQuietMs) || drainQuietMs < 0) {
    invalid('drainQuietMs', 'a non-negative integer', drainQuietMs);
  }
  if (!Number.isInteger(backlog) || backlog < 1) invalid('backlog', 'a positive integer', backlog);
  if (options.dupFd !== undefined && typeof options.dupFd !== 'function') {
    invalid('dupFd', 'a function', options.dupFd);
  }
  return { drainQuietMs, backlog, dupFd: options.dupFd ?? nativeDupFd };
}

function invalid(option: string, expected: string, value: unknown): never {
  const message = `${option} must be ${expected}, got ${String(value)} (${typeof value})`;
  throw new HandoffError('InvalidOption', message, { option });
}
