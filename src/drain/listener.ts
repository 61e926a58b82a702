// Stops and restarts a server's accepting without ever giving up its listening socket: the net close on
// this process's copy of the fd, and a spare duplicate that resume() listens on again. Used by every drainer.

import { closeSync } from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import { HandoffError, ioError } from '../errors.js';
import type { ResolvedListenerOptions } from './options.js';

/*
 * Why the fd needs a duplicate (measured on Node 20.20): `server.listen({ fd: 3 })` wraps fd 3 itself
 * (uv_tcp_open, no dup), so `net.Server.prototype.close` closes fd 3 — `fstat(3)` fails with EBADF right
 * after. The kernel socket survives (the supervisor holds another fd for it), but this process has lost
 * its way back to it: `resume()` after an aborted handoff could never accept again, and re-listening on
 * the number 3 would wrap whatever file next reuses it. Node offers no way to stop a listening handle's
 * accepts short of closing it, and no dup(). So at its first stop the gate keeps a spare duplicate of the
 * listening fd (the native layer's dup), and every `resume()` listens on a fresh duplicate of that spare:
 * a failed re-listen never consumes the spare, and no fd number is ever reused after close. This works
 * the same for an inherited fd and for a port or path the server bound itself.
 */

/** The accepting side of one server (any `net.Server`: http, https, tls, http2, plain TCP). */
export class ListenerGate {
  readonly #server: net.Server;
  readonly #options: ResolvedListenerOptions;
  /** A duplicate of the listening fd, kept from the first stop on; resume() listens on dups of it. */
  #spareFd: number | undefined;
  /** Bumped by every stop and resume, so one that finishes an await after the other began backs off. */
  #epoch = 0;

  constructor(server: net.Server, options: ResolvedListenerOptions) {
    this.#server = server;
    this.#options = options;
  }

  get accepting(): boolean {
    return this.#server.listening;
  }

  /**
   * Stops accepting. Resolves true once the server no longer accepts (or never did), false when a
   * `resume()` arrived while the spare fd was being made (the server keeps accepting then). Throws `Io`
   * if the fd cannot be duplicated, and the server then still accepts.
   */
  async stop(): Promise<boolean> {
    const epoch = ++this.#epoch;
    if (!this.#server.listening) return true;
    // SAFETY: the way back exists before the fd is closed, so a failed dup leaves us serving.
    if (this.#spareFd === undefined) this.#spareFd = await this.#dup(listeningFd(this.#server));
    if (epoch !== this.#epoch) return false;
    // The net close, not the subclass's: Node ≥ 19's http close also destroys idle keep-alive sockets at
    // once, which resets the requests clients are sending on them (measured: 144 ECONNRESET over 9
    // handoffs), and http2's may end sessions. This one only stops accepting.
    net.Server.prototype.close.call(this.#server);
    return true;
  }

  /**
   * Accepts again on a new duplicate of the fd kept at the first stop. A no-op while listening, or if it
   * never stopped. Throws `Io` if listening fails.
   */
  async resume(): Promise<void> {
    const epoch = ++this.#epoch;
    if (this.#server.listening || this.#spareFd === undefined) return;
    const fd = await this.#dup(this.#spareFd);
    if (epoch !== this.#epoch) {
      closeSync(fd); // a stop began meanwhile: stay closed
      return;
    }
    await listen(this.#server, fd, this.#options.backlog);
  }

  async #dup(fd: number): Promise<number> {
    let copy: number;
    try {
      copy = await this.#options.dupFd(fd);
    } catch (error) {
      throw ioError(`cannot duplicate listening fd ${fd}`, error, { fd });
    }
    if (!Number.isInteger(copy) || copy < 0) {
      throw new HandoffError('Io', `dupFd(${fd}) returned ${String(copy)}, not an fd`, { fd });
    }
    return copy;
  }
}

/** The fd of the server's listening handle; Node keeps it on the private `_handle` (Unix only). */
function listeningFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new HandoffError('Io', `cannot find the listening fd of the server (got ${String(fd)})`);
  }
  return fd;
}

function listen(server: net.Server, fd: number, backlog: number): Promise<void> {
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

/**
 * True for a tls.Server (an https.Server included), told apart without loading node:tls, which a daemon
 * serving plain HTTP never needs (it costs every daemon's start-up): only a TLS server has setSecureContext.
 */
export function isTlsServer(server: net.Server): server is tls.Server {
  return typeof (server as Partial<tls.Server>).setSecureContext === 'function';
}
