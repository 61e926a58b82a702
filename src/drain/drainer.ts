// The public face every server drainer shares (HttpDrain, HttpsDrain, Http2Drain, TcpDrain): its options are
// checked and its server found not yet listening at construction; drain, resume and two read-outs.

import type net from 'node:net';
import type { DrainContext, DrainReport } from '../drainable.js';
import { checkNotListening, type ListenerOptions, resolveListenerOptions } from './options.js';
import { ServerDrain } from './server-drain.js';

/** A drainer of one server; each kind adds the connection groups its protocol needs. */
export abstract class ServerDrainer {
  /** The shared drain; subclasses add their connection groups to it. */
  protected readonly core: ServerDrain;

  /** Throws `InvalidOption` for a bad option, or when `server` already listens. */
  protected constructor(server: net.Server, options: ListenerOptions, name: string) {
    const listener = resolveListenerOptions(options);
    checkNotListening(server, name);
    this.core = new ServerDrain(server, listener);
  }

  /** Connections currently open, TLS handshakes in progress included (for `snapshotState`). */
  get openConnections(): number {
    return this.core.openConnections;
  }

  /** True while the server accepts connections. */
  get accepting(): boolean {
    return this.core.accepting;
  }

  /**
   * Stops accepting (new clients wait in the supervisor's accept queue for the successor), asks every
   * connection to finish the way its protocol allows (see the class), and waits until none is open. At
   * `deadline` or when `signal` aborts, destroys what is left and reports that count. Concurrent calls
   * share one drain; a drain after a drain (no resume between) returns at once. Throws `Io` only if
   * duplicating the listening fd fails, and the server then still accepts.
   */
  drain(context: DrainContext): Promise<DrainReport> {
    return this.core.drain(context);
  }

  /**
   * Accepts again, on a new duplicate of the fd kept at the first drain, and stops closing connections
   * (those already told to finish may still end; their clients reconnect here). Idempotent; a no-op while
   * listening or if it never drained. A pending drain resolves with the connections still open. Throws
   * `Io` if listening fails.
   */
  resume(): Promise<void> {
    return this.core.resume();
  }
}
