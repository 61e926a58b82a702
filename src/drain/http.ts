// Drains a node:http or node:https server without a single reset (docs/operations.md, "Draining HTTP"), for a
// Drainable's drain/resumeAfterAbort (docs/protocol.md §7). Stopping accept closes this process's copy of the
// listening fd only: the supervisor's copy keeps the kernel socket and its accept queue open, so new clients
// wait for the successor.

import type http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import type { DrainContext, DrainReport } from '../drainable.js';
import { Http1Connections } from './http1.js';
import {
  checkNotListening,
  DRAIN_DEFAULTS,
  type ListenerOptions,
  type QuietOptions,
  resolveListenerOptions,
  resolveQuietMs,
} from './options.js';
import { ServerDrain } from './server-drain.js';

/** Options of {@link HttpDrain} and {@link HttpsDrain}. */
export interface HttpDrainOptions extends ListenerOptions, QuietOptions {}

export const HTTP_DRAIN_DEFAULTS = DRAIN_DEFAULTS;

/** An HTTP/1.1 server: node:http's, or node:https's (a tls.Server). */
export type HttpServer = http.Server | https.Server;

/** What a WebSocketDrain needs from the drainer of the server it shares (not public API). */
export interface UpgradeHost {
  readonly server: HttpServer;
  readonly core: ServerDrain;
  /** See Http1Connections.forget. */
  forget(socket: Socket, released: boolean): void;
}

/** The key of a drainer's {@link UpgradeHost}; not exported from the package. */
export const kUpgradeHost = Symbol('handoff.upgradeHost');

/**
 * Tracks one `http.Server` or `https.Server` (HTTP/1.1) so it can be drained and resumed: during a drain
 * every response says `Connection: close`, connections with nothing in flight close once quiet for
 * `drainQuietMs`, and on https a TLS handshake in progress completes before its connection is drained.
 * Construct it before the server listens (connections accepted earlier would be invisible to the drain).
 * Upgraded connections are left alone when a {@link WebSocketDrain} routes them; otherwise they are
 * treated like idle ones: ended once quiet, destroyed at the deadline.
 */
export class HttpDrain {
  readonly #server: HttpServer;
  readonly #core: ServerDrain;
  readonly #http1: Http1Connections;

  /** Throws `InvalidOption` for a bad option or a server that already listens. */
  constructor(server: HttpServer, options: HttpDrainOptions = {}) {
    const listener = resolveListenerOptions(options);
    const quietMs = resolveQuietMs(options);
    checkNotListening(server, new.target.name);
    this.#server = server;
    this.#core = new ServerDrain(server, listener);
    this.#http1 = new Http1Connections(server, this.#core, quietMs);
    this.#core.add(this.#http1);
  }

  /** Connections currently open, TLS handshakes in progress included (for `snapshotState`). */
  get openConnections(): number {
    return this.#core.openConnections;
  }

  /** True while the server accepts connections. */
  get accepting(): boolean {
    return this.#core.accepting;
  }

  /**
   * Stops accepting, answers every further request with `Connection: close`, closes connections that stay
   * quiet for `drainQuietMs`, and waits for in-flight requests (and handshakes). At `deadline` or when
   * `signal` aborts, it destroys what is left and reports that count. Concurrent calls share one drain; a
   * drain after a drain (with no resume between) returns at once. Throws `Io` only if duplicating the fd
   * fails, and then still accepts.
   */
  drain(context: DrainContext): Promise<DrainReport> {
    return this.#core.drain(context);
  }

  /**
   * Accepts again and stops closing connections: listens on a new duplicate of the fd kept at the first
   * drain. Idempotent; a no-op while listening or if it never drained. A pending drain resolves with the
   * connections still open. Throws `Io` if listening fails.
   */
  resume(): Promise<void> {
    return this.#core.resume();
  }

  /** @internal For WebSocketDrain. */
  [kUpgradeHost](): UpgradeHost {
    return {
      server: this.#server,
      core: this.#core,
      forget: (socket, released) => this.#http1.forget(socket, released),
    };
  }
}
